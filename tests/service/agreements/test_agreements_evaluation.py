"""Monthly evaluation from the feed (issue 19, item 3): the service reads the site's
rows of the period with their revisions, its class peers and the feed's claims, and
answers what ``evaluate_period`` makes of exactly those; months run through the feed's
newest month; corrections show as new revisions."""

from __future__ import annotations

from typing import Any

import pandas as pd
from agreement_helpers import RULE_SET, Parties, bearer, body, contract_data, feed
from litestar import Litestar
from litestar.testing import TestClient

from models.incentives import (
    MonthRow,
    PeerRow,
    SiteClaim,
    SiteClass,
    evaluate_period,
    load_rule_set,
    period_months,
)
from service.agreements.feed_inputs import VALUE_COLUMNS, ranked_columns
from service.db.engine import Database
from training.synth import World


def _in_effect(client: TestClient[Litestar], parties: Parties, **changes: Any) -> str:
    created = client.post(
        "/v1/agreements", json=body(parties, **changes), headers=bearer(parties.keys["owner"])
    )
    assert created.status_code == 201, created.text
    agreement_id = str(created.json()["id"])
    for party in ("owner", "contractor"):
        client.post(f"/v1/agreements/{agreement_id}/accept", headers=bearer(parties.keys[party]))
    return agreement_id


def _number(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _expected(world: World, site_id: str, first: str, last: str) -> Any:
    """evaluate_period on the world's frames, without the database."""
    rule_set = load_rule_set(RULE_SET)
    months = period_months(first, last)
    sm = world.site_months[world.site_months["month"].between(first, last)]
    own = sm[sm["site_id"] == site_id].sort_values("month")
    rows = [
        MonthRow(r["month"], r["stage"], 1, {c: _number(r[c]) for c in VALUE_COLUMNS})
        for _, r in own.iterrows()
    ]
    site = world.sites.set_index("site_id").loc[site_id]
    same_type = world.sites[world.sites["project_type"] == site["project_type"]]["site_id"]
    columns = ranked_columns(rule_set)
    peers = [
        PeerRow(
            r["site_id"],
            r["month"],
            str(site["project_type"]),
            r["stage"],
            {c: _number(r[c]) for c in columns},
        )
        for _, r in sm[sm["site_id"].isin(same_type) & (sm["site_id"] != site_id)].iterrows()
    ]
    claims = world.claims[world.claims["site_id"] == site_id]
    day = pd.to_datetime(claims["incident_date"])
    claims = claims[
        (day >= pd.Timestamp(f"{first}-01"))
        & (day < pd.Timestamp(f"{last}-01") + pd.offsets.MonthBegin(1))
    ]
    stage = rows[-1].stage if rows else "foundation"
    return evaluate_period(
        rule_set,
        SiteClass(str(site["project_type"]), stage),
        months,
        rows,
        peers,
        [
            SiteClaim(pd.Timestamp(c).date(), s)
            for c, s in zip(claims["incident_date"], claims["severity"], strict=True)
        ],
        claims_data=True,
    )


def _busy_site(world: World, owner: str, first: str, last: str) -> pd.Series:
    """A site of ``owner`` with a row in every month of the period."""
    sm = world.site_months[world.site_months["month"].between(first, last)]
    full = sm.groupby("site_id")["month"].nunique()
    owned = world.sites[world.sites["owner_id"] == owner]
    months = len(period_months(first, last))
    return next(s for _, s in owned.iterrows() if full.get(s["site_id"], 0) == months)


def test_the_evaluation_is_evaluate_period_of_the_feeds_rows(
    client: TestClient[Litestar], parties: Parties, world: World
) -> None:
    mine = _parties_of(client, parties, _busy_site(world, "OWN-A", "2024-03", "2025-02"))
    agreement_id = _in_effect(client, mine)
    got = client.get(
        f"/v1/agreements/{agreement_id}/evaluation", headers=bearer(parties.keys["owner"])
    ).json()
    expected = _expected(world, mine.site_id, "2024-03", "2025-02")
    assert got["months"] == list(expected.months)
    assert got["months_used"] == list(expected.months_used) == got["months"]
    assert got["revisions"] == dict.fromkeys(got["months"], 1)
    for tier, want in zip(got["tiers"], expected.tiers, strict=True):
        assert (tier["name"], tier["outcome"]) == (want.name, want.outcome)
        for c, w in zip(tier["criteria"], want.criteria, strict=True):
            assert (c["name"], c["outcome"], c["value"], c["reason"]) == (
                w.name,
                w.outcome,
                w.value,
                w.reason,
            )
            assert [m["cumulative"] for m in c["by_month"]] == [m.cumulative for m in w.by_month]
            assert [m["peers"] for m in c["by_month"]] == [m.peers for m in w.by_month]
    assert [b["outcome"] for b in got["breaches"]] == [b.outcome for b in expected.breaches]


def _parties_of(client: TestClient[Litestar], parties: Parties, site: pd.Series) -> Parties:
    """The parties of another site of the same owner: a contractor key of its own."""
    from svc_helpers import PEPPER

    from service.auth.store import ApiKeyStore, KeySpec
    from service.runtime import runtime_of

    contractor_id = str(site["contractor_id"])
    with runtime_of(client.app).database.session() as session:
        spec = KeySpec.parse("contractor", contractor_id=contractor_id)
        issued = ApiKeyStore(session, PEPPER).create(spec)
    keys = {**parties.keys, "contractor": issued.key}
    return Parties(str(site["site_id"]), parties.owner, contractor_id, keys)


def test_months_run_through_the_feeds_newest_month_and_corrections_show(
    client: TestClient[Litestar], parties: Parties, world: World, database: Database
) -> None:
    agreement_id = _in_effect(client, parties, first_month="2025-01", last_month="2025-12")
    owner = bearer(parties.keys["owner"])
    got = client.get(f"/v1/agreements/{agreement_id}/evaluation", headers=owner).json()
    # the world ends with 2025-06: the months so far are those through it
    assert got["through_month"] == "2025-06"
    assert got["months"] == list(period_months("2025-01", "2025-06"))
    limited = client.get(
        f"/v1/agreements/{agreement_id}/evaluation?through=2025-03", headers=owner
    ).json()
    assert limited["months"] == ["2025-01", "2025-02", "2025-03"]
    bad = client.get(f"/v1/agreements/{agreement_id}/evaluation?through=2025-3", headers=owner)
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "through"

    month = got["months_used"][-1]
    sm = world.site_months
    corrected = sm[(sm["site_id"] == parties.site_id) & (sm["month"] == month)].copy()
    corrected["alert_closure_rate"] = 0.123
    data = contract_data(world)
    data = type(data)(
        sites=data.sites,
        site_months=corrected.reset_index(drop=True),
        claims=data.claims.iloc[:0],
        warnings=[],
    )
    feed(database, data, platform_key=1, claims=False)
    again = client.get(f"/v1/agreements/{agreement_id}/evaluation", headers=owner).json()
    assert again["revisions"][month] == 2
    closure = next(c for c in again["tiers"][0]["criteria"] if c["name"] == "alert_closure")
    assert next(m for m in closure["by_month"] if m["month"] == month)["value"] == 0.123


def test_without_claims_data_claims_criteria_are_not_evaluable(
    client: TestClient[Litestar], parties: Parties, world: World
) -> None:
    with_claims = set(world.claims["site_id"])
    owned = world.sites[
        (world.sites["owner_id"] == "OWN-A") & ~world.sites["site_id"].isin(with_claims)
    ]
    mine = _parties_of(client, parties, owned.iloc[0])
    keys = mine.keys
    unnamed = _in_effect(client, mine, insurer_id=None)
    named = _in_effect(client, mine, first_month="2025-03", last_month="2025-05")

    def claims_outcomes(agreement_id: str) -> set[tuple[str, str | None]]:
        got = client.get(
            f"/v1/agreements/{agreement_id}/evaluation", headers=bearer(keys["owner"])
        ).json()
        criteria = [c for t in got["tiers"] for c in t["criteria"]] + [
            b["criterion"] for b in got["breaches"]
        ]
        return {(c["outcome"], c["reason"]) for c in criteria if c["metric"] == "claims_count"}

    # no claim on the site and no insurer named: "no claims" is not evidence
    assert claims_outcomes(unnamed) == {("not_evaluable", "no_claims_data")}
    # the named insurer feeds its claims: its silence about the site counts
    assert claims_outcomes(named) == {("met", None)}
