"""A quote's eligibility is evaluated by a short path (``find_tiers``: no evaluation
objects, no month figures, criteria that mean the same evaluated once per rule set
plan). On a generated world's sites, across rule sets 2025.1, 2026.1 and the samples,
it must answer exactly what the full evaluation answers, and the full evaluation's
figures must agree with its own month-by-month figures and with the rules read plainly."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from models.incentives import (
    CriterionEvaluation,
    MonthRow,
    PeerRow,
    PeriodEvaluation,
    SiteClaim,
    SiteClass,
    evaluate_period,
    load_rule_set,
    parse_rule_set,
    period_months,
)
from models.incentives.evaluation import Finding, find_tiers
from models.incentives.legacy import LEGACY_NAMES, from_legacy, window_months
from models.pricing import load_incentives
from models.pricing.history import gap, meets
from models.pricing.incentives import (
    CriterionResult,
    IncentiveResult,
    QuoteEvidence,
    TierResult,
    quote_incentives,
)
from models.pricing.rulesets import IncentiveRuleSet
from training.synth.world import generate_world

RULES = Path(__file__).parents[3] / "models" / "incentives" / "rules"
# the quote's rule sets, and the samples read as a quote's (their class percentiles
# are not evaluable in a quote, which ranks no peers)
QUOTE_RULE_SETS = {
    "2025.1": lambda: load_incentives("2025.1"),
    "2026.1": lambda: load_incentives("2026.1"),
    "sample-plan-2026.1": lambda: load_incentives(path=RULES / "sample-plan-2026.1.yaml"),
}
STARTS = ("2025-01", "2025-07", "2026-01")  # the last is past the world's months
EVIDENCE = (
    QuoteEvidence(claims_known=True, class_percentile=12.0),
    QuoteEvidence(claims_known=False, class_percentile=float("nan")),
    QuoteEvidence(claims_known=True, class_percentile=45.0),
)


class World:
    """60 sites over 2024-2025, some months dropped so windows miss months."""

    def __init__(self) -> None:
        world = generate_world(60, seed=23, months=24, start="2024-01")
        self.columns = [
            c for c in world.site_months.columns if c not in ("site_id", "month", "stage")
        ]
        self.project_type = dict(
            zip(world.sites["site_id"], world.sites["project_type"], strict=True)
        )
        self.records: dict[str, list[dict[str, Any]]] = {}
        for i, r in enumerate(world.site_months.to_dict("records")):
            if i % 7 == 3:  # a month not reported
                continue
            sid = str(r["site_id"])
            values = {c: None if pd.isna(r[c]) else r[c] for c in self.columns}
            self.records.setdefault(sid, []).append({**values, "month": r["month"],
                                                     "stage": r["stage"]})  # fmt: skip
        self.claims: dict[str, list[tuple[dt.date, str]]] = {}
        for c in world.claims.to_dict("records"):
            day = pd.Timestamp(c["incident_date"]).date()
            self.claims.setdefault(str(c["site_id"]), []).append((day, str(c["severity"])))
        self.sites = sorted(self.records)

    def rows(self, sid: str) -> list[MonthRow]:
        return [
            MonthRow(r["month"], r["stage"], 7,
                     {c: None if r[c] is None else float(r[c]) for c in self.columns})
            for r in self.records[sid]
        ]  # fmt: skip

    def site_claims(self, sid: str) -> list[SiteClaim]:
        return [SiteClaim(day, severity) for day, severity in self.claims.get(sid, [])]

    def site_class(self, sid: str) -> SiteClass:
        return SiteClass(self.project_type[sid], self.records[sid][-1]["stage"])

    def peers(self, sid: str) -> list[PeerRow]:
        return [
            PeerRow(other, row.month, self.project_type[other], row.stage, row.values)
            for other in self.sites
            if other != sid
            for row in self.rows(other)
        ]


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _before(start: str, window: int) -> tuple[str, ...]:
    first = pd.Period(start, "M") - window
    return period_months(str(first), str(pd.Period(start, "M") - 1))


def _finding(e: CriterionEvaluation) -> Finding:
    return Finding(e.value, e.outcome, e.reason, e.months_used, e.missing_months, e.revisions)


def _plainly(e: CriterionEvaluation, max_missing: int) -> None:
    """A month-based criterion's figure and outcome, read from its own months."""
    assert e.by_month, e.name
    reported = [f for f in e.by_month if f.status != "not_reported"]
    assert e.months_used == tuple(f.month for f in reported)
    assert e.missing_months == tuple(f.month for f in e.by_month if f.status == "not_reported")
    assert e.revisions == {f.month: f.revision for f in reported}
    last = e.by_month[-1].cumulative
    assert e.value == last or (e.value is None and last is None), e.name
    if len(e.missing_months) > max_missing:
        expected: tuple[str, str | None] = ("not_evaluable", "too_many_missing_months")
    elif not reported:
        expected = ("not_evaluable", "nothing_reported")
    elif e.value is None:
        expected = ("not_evaluable", "no_exposure")
    else:
        met = meets(e.value, e.operator, e.threshold)
        expected = ("met" if met else "not_met", None)
    assert (e.outcome, e.reason) == expected, e.name


def _answer(
    rule_set: IncentiveRuleSet, ev: PeriodEvaluation, start: str, pct: float | None
) -> IncentiveResult:
    """The quote's answer read plainly off the full evaluation."""
    legacy = rule_set.rules is None
    tiers = []
    for tier, evaluated in zip(rule_set.tiers, ev.tiers, strict=True):
        results = []
        for c, e in zip(tier.criteria, evaluated.criteria, strict=True):
            actual = None if e.outcome == "not_evaluable" else e.value
            counted = c.metric not in ("claims_count", "risk_percentile", "model_class_percentile")
            results.append(
                CriterionResult(
                    c.name, c.zh, c.en, LEGACY_NAMES.get(e.metric, e.metric),  # type: ignore[arg-type]
                    c.column, c.window_months, c.operator, c.threshold, actual,
                    len(e.months_used) if counted else None, e.outcome == "met",
                    gap(actual, c.operator, c.threshold),
                    None if legacy else e.outcome, None if legacy else e.reason,
                )
            )  # fmt: skip
        eligible = all(r.met for r in results)
        tiers.append(TierResult(tier.name, tier.zh, tier.en, tier.description, eligible,
                                tuple(results)))  # fmt: skip
    return IncentiveResult(rule_set.version, rule_set.label, start, pct, tuple(tiers),
                           states_outcomes=not legacy)  # fmt: skip


@pytest.mark.parametrize("version", sorted(QUOTE_RULE_SETS))
def test_a_quote_answers_what_the_full_evaluation_answers(world: World, version: str) -> None:
    rule_set = QUOTE_RULE_SETS[version]()
    rules = rule_set.rules if rule_set.rules is not None else from_legacy(rule_set)
    legacy = rule_set.rules is None
    checked = 0
    outcomes: set[str] = set()
    for n, sid in enumerate(world.sites):
        start, evidence = STARTS[n % len(STARTS)], EVIDENCE[n % len(EVIDENCE)]
        pct = None if n % 5 == 0 else 10.0 + n
        months = [SimpleNamespace(**r) for r in world.records[sid]]
        claims = [
            SimpleNamespace(incident_date=d, severity=s) for d, s in world.claims.get(sid, [])
        ]
        quoted = quote_incentives(rule_set, months, claims, start, pct, evidence)
        full = evaluate_period(
            rules, None, _before(start, window_months(rule_set)), world.rows(sid), (),
            world.site_claims(sid), claims_data=True if legacy else evidence.claims_known,
            model_percentile=pct,
            model_class_percentile=None if legacy else evidence.class_percentile,
        )  # fmt: skip
        assert repr(quoted) == repr(_answer(rule_set, full, start, pct)), sid
        for tier_rules, tier in zip(rules.tiers, full.tiers, strict=True):
            for c, e in zip(tier_rules.criteria, tier.criteria, strict=True):
                outcomes.add(e.outcome)
                if c.metric not in ("claims_count", "model_percentile",
                                    "model_class_percentile", "class_percentile"):  # fmt: skip
                    _plainly(e, c.max_missing_months)
        checked += 1
    assert checked == len(world.sites)
    assert outcomes == {"met", "not_met", "not_evaluable"}  # the world tells sites apart


@pytest.mark.parametrize("name", ["sample-plan-2026.1", "sample-money-2026.1"])
def test_the_short_path_finds_what_evaluate_period_finds(world: World, name: str) -> None:
    rules = load_rule_set(name)
    period = period_months("2025-01", "2025-12")
    for n, sid in enumerate(world.sites[:24]):
        site_class = None if n % 6 == 0 else world.site_class(sid)
        kw: dict[str, Any] = {
            "claims_data": n % 4 != 1,
            "model_percentile": 30.0,
            "model_class_percentile": [12.5, None, float("nan"), 60.0][n % 4],
        }
        args = (site_class, period, world.rows(sid), world.peers(sid), world.site_claims(sid))
        found = find_tiers(rules, *args, **kw)
        for monthly in (True, False):
            full = evaluate_period(rules, *args, monthly=monthly, **kw)
            expected = [[repr(_finding(e)) for e in t.criteria] for t in full.tiers]
            assert [[repr(f) for f in t] for t in found] == expected, sid


def test_criteria_differing_in_name_find_the_same_and_in_threshold_do_not() -> None:
    def criterion(name: str, threshold: float, missing: int = 1) -> dict[str, Any]:
        return {"name": name, "zh": name, "en": name, "metric": "months_mean",
                "column": "data_completeness", "operator": ">=", "threshold": threshold,
                "max_missing_months": missing}  # fmt: skip

    rules = parse_rule_set(
        {
            "schema": "incentive-rules/2",
            "version": "test-same",
            "label": "test",
            "sample": False,
            "tiers": [
                {"name": "a", "zh": "a", "en": "a", "means": "contract_money",
                 "criteria": [criterion("first", 0.90), criterion("again", 0.90)]},
                {"name": "b", "zh": "b", "en": "b", "means": "contract_money",
                 "criteria": [criterion("lower", 0.85), criterion("strict", 0.85, missing=0)]},
            ],
        }
    )  # fmt: skip
    period = period_months("2026-01", "2026-03")
    rows = [
        MonthRow("2026-01", "structure", 1, {"data_completeness": 0.86}),
        MonthRow("2026-03", "structure", 2, {"data_completeness": 0.88}),
    ]
    (first, again), (lower, strict) = find_tiers(rules, None, period, rows, [], [],
                                                 claims_data=True)  # fmt: skip
    assert first == again
    assert first.outcome == "not_met"
    assert math.isclose(first.value or 0.0, 0.87)
    assert lower.outcome == "met"
    assert (strict.outcome, strict.reason) == ("not_evaluable", "too_many_missing_months")
    full = evaluate_period(rules, None, period, rows, [], [], claims_data=True)
    assert [c.outcome for t in full.tiers for c in t.criteria] == [
        "not_met", "not_met", "met", "not_evaluable"
    ]  # fmt: skip
