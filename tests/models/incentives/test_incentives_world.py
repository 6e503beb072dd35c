"""The sample rule set on a generated world: sites evaluated month by month through a
year and settled, the statement recomputed byte for byte, percentiles blind to sites of
other classes, and the samples telling sites apart."""

from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from models.incentives import (
    MonthRow,
    PeerRow,
    SiteClaim,
    SiteClass,
    evaluate_period,
    load_rule_set,
    period_months,
    settle,
    terms_from_json,
)
from training.synth.world import generate_world

PERIOD = period_months("2025-01", "2025-12")


class World:
    def __init__(self) -> None:
        world = generate_world(200, seed=11, months=24, start="2024-01")
        months = world.site_months[world.site_months["month"].isin(PERIOD)]
        self.project_type = dict(
            zip(world.sites["site_id"], world.sites["project_type"], strict=True)
        )
        columns = [c for c in months.columns if c not in ("site_id", "month", "stage")]
        self.rows: dict[str, list[MonthRow]] = collections.defaultdict(list)
        self.peers: list[PeerRow] = []
        for r in months.to_dict("records"):
            values = {c: None if pd.isna(r[c]) else float(r[c]) for c in columns}
            sid = str(r["site_id"])
            self.rows[sid].append(MonthRow(r["month"], r["stage"], 1, values))
            self.peers.append(PeerRow(sid, r["month"], self.project_type[sid], r["stage"], values))
        self.claims: dict[str, list[SiteClaim]] = collections.defaultdict(list)
        for c in world.claims.to_dict("records"):
            day = pd.Timestamp(c["incident_date"]).date()
            self.claims[str(c["site_id"])].append(SiteClaim(day, str(c["severity"])))
        self.full = sorted(s for s, rows in self.rows.items() if len(rows) == 12)

    def site_class(self, sid: str) -> SiteClass:
        return SiteClass(self.project_type[sid], self.rows[sid][-1].stage)

    def others(self, sid: str) -> list[PeerRow]:
        return [p for p in self.peers if p.site_id != sid]

    def evaluate(self, sid: str, months: tuple[str, ...], **kw: Any) -> Any:
        args: dict[str, Any] = {"claims_data": True}
        args.update(kw)
        return evaluate_period(
            load_rule_set("sample-plan-2026.1"),
            self.site_class(sid),
            months,
            self.rows[sid],
            args.pop("peers", self.others(sid)),
            self.claims[sid],
            **args,
        )


@pytest.fixture(scope="module")
def world() -> World:
    return World()


TERMS = {
    "rule_set_version": "sample-plan-2026.1",
    "contract_sum_cny": "85000000.00",
    "rewards": {"safety_target_bonus": {"kind": "share_of_contract_sum", "value": "0.0005"},
                "civilised_site_priority": {"kind": "cny", "value": "20000"}},
    "penalties": {"fatal_claim": {"kind": "cny", "value": "200000"},
                  "hazards_left_open": {"kind": "share_of_contract_sum", "value": "0.0002"}},
}  # fmt: skip


def test_a_year_month_by_month_then_settled_and_recomputed_byte_for_byte(world: World) -> None:
    assert len(world.full) >= 20
    sid = world.full[0]
    terms = terms_from_json(TERMS)
    running = []
    for n in range(1, 13):  # the months so far, as a running agreement shows them
        ev = world.evaluate(sid, PERIOD[:n])
        assert ev.months == PERIOD[:n]
        assert ev.months_used == PERIOD[:n]  # the site reported a row every month
        running.append(ev)
    final = running[-1]
    for tier in final.tiers:
        for c in tier.criteria:
            assert [m.month for m in c.by_month] == list(c.months)
            if c.metric != "claims_count":  # claims are no site_months rows
                assert set(c.revisions) == set(c.months_used)
    statement = settle(terms, final)
    again = settle(terms, world.evaluate(sid, PERIOD))
    assert statement.canonical_json() == again.canonical_json()
    assert statement.content_hash == again.content_hash
    assert statement.net_cny == statement.reward_cny - statement.penalty_cny
    allowed = {Decimal("0.00"), Decimal("42500.00"), Decimal("20000.00"), Decimal("62500.00")}
    assert statement.reward_cny in allowed  # 0.05 % of 85 million, 20,000, both or none


def test_percentiles_rank_only_among_the_sites_own_class(world: World) -> None:
    changed = 0
    for sid in world.full[:12]:
        klass = world.site_class(sid)
        everyone = world.evaluate(sid, PERIOD)
        own_class = [
            p for p in world.others(sid)
            if (p.project_type, p.stage) == (klass.project_type, klass.stage)
        ]  # fmt: skip
        only_class = world.evaluate(sid, PERIOD, peers=own_class)
        assert everyone == only_class  # other classes' rows change nothing
        # ranked among every site instead, the figure would move
        blind = world.evaluate(
            sid,
            PERIOD,
            peers=[PeerRow(p.site_id, p.month, klass.project_type, klass.stage, p.values)
                   for p in world.others(sid)],
        )  # fmt: skip
        a = everyone.tiers[0].criteria[2]
        b = blind.tiers[0].criteria[2]
        assert a.name == b.name == "major_hazards_in_class"
        changed += a.value != b.value
    assert changed > 0


def test_without_claims_data_no_site_earns_the_tiers_needing_it(world: World) -> None:
    met: collections.Counter[str] = collections.Counter()
    for sid in world.full:
        ev = world.evaluate(sid, PERIOD, claims_data=False)
        for tier in ev.tiers:
            needs_claims = any(c.metric == "claims_count" for c in tier.criteria)
            if needs_claims:
                assert tier.outcome != "met"
            met[tier.name] += tier.outcome == "met"
        assert {b.name: b.outcome for b in ev.breaches}["fatal_claim"] == "not_evaluable"
    assert met["safety_standard_points"] > 0  # reads no claims: still earned by some


def test_the_sample_tells_sites_apart(world: World) -> None:
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for sid in world.full:
        for tier in world.evaluate(sid, PERIOD).tiers:
            outcomes[tier.name][tier.outcome] += 1
    for name, counts in outcomes.items():
        assert counts["met"] > 0, name
        assert counts["met"] < len(world.full) / 2, name


def test_the_claims_counted_are_the_sites_own_by_severity(world: World) -> None:
    with_claims = [s for s in world.full if world.claims[s]]
    assert with_claims
    sid = with_claims[0]
    ev = world.evaluate(sid, PERIOD)
    serious = {c.name: c for c in ev.tiers[0].criteria}["no_serious_claims"]
    inside = [
        c for c in world.claims[sid]
        if dt.date(2025, 1, 1) <= c.incident_date < dt.date(2026, 1, 1)
        and c.severity in ("serious_injury", "fatality")
    ]  # fmt: skip
    assert serious.value == len(inside)
