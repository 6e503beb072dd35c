"""Which policies the rating plan prices at all: before works start (no months, no
discount, and the answer says why and from when data counts), and never on stale data,
far-future cover or a finished site (a 422 naming the field)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from quote_helpers import request_for, sites_with_history

from models.pricing import load_plan
from service.model_provider import ModelSnapshot
from service.quotes import intake
from service.quotes.pricing_service import FailedQuote, PricedQuote, QuotePricer
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

Body = dict[str, Any]
LIMITS = load_plan().quote_limits


def _price(snapshot: ModelSnapshot, bodies: list[Body], now: datetime) -> list[Any]:
    items = [intake.read_item(b, i, f"items[{i}].") for i, b in enumerate(bodies)]
    return QuotePricer().price(items, snapshot, now=now)


def _month(day: Any) -> str:
    return str(day)[:7]


def _plus(month: str, n: int) -> str:
    k = int(month[:4]) * 12 + int(month[5:]) - 1 + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def _pre_start(world: World, site: str, start: str) -> Body:
    body = request_for(world, site, start)
    return {**body, "months": [], "claims": []}


def test_every_site_is_priced_before_works_start_without_a_discount(
    unseen_world: World, snapshot: ModelSnapshot
) -> None:
    sites = unseen_world.sites
    bodies = [
        _pre_start(unseen_world, str(s), _month(d))
        for s, d in zip(sites["site_id"], sites["start_date"], strict=True)
    ]
    # each bought in the month its works start
    outcomes = []
    for body in bodies:
        start = body["policy"]["start_month"]
        now = datetime(int(start[:4]), int(start[5:]), 1, tzinfo=UTC)
        outcomes += _price(snapshot, [body], now)
    refused = [o.error.fields for o in outcomes if isinstance(o, FailedQuote)]
    assert refused == []
    for body, outcome in zip(bodies, outcomes, strict=True):
        assert isinstance(outcome, PricedQuote)
        q = outcome.response
        assert q.pricing.final_premium_cny >= q.pricing.base_premium_cny
        assert not q.data_quality.discount_allowed
        assert "too_few_months" in q.data_quality.reasons
        start = body["policy"]["start_month"]
        assert q.data_quality.discount_possible_from == _plus(start, 3)
        assert any("before works start" in w for w in q.warnings)
        assert q.risk.expected_loss_cny > 0
        assert q.risk.projected_worker_hours > 0


def test_no_months_after_works_start_is_refused_naming_months(
    unseen_world: World, snapshot: ModelSnapshot
) -> None:
    site = unseen_world.sites.iloc[0]
    body = _pre_start(unseen_world, str(site["site_id"]), _plus(_month(site["start_date"]), 2))
    (outcome,) = _price(snapshot, [body], datetime(2024, 1, 1, tzinfo=UTC))
    assert isinstance(outcome, FailedQuote)
    assert [f.field for f in outcome.error.fields] == ["items[0].months"]
    assert "works start" in outcome.error.fields[0].message


@pytest.mark.parametrize("start", ["2099-01", "2031-05"])
def test_far_future_cover_on_old_data_is_refused_naming_the_start(
    unseen_world: World, snapshot: ModelSnapshot, start: str
) -> None:
    site = sites_with_history(unseen_world, "2026-01")[0]
    body = request_for(unseen_world, site, "2026-01")
    body["policy"]["start_month"] = start
    (outcome,) = _price(snapshot, [body], datetime(2026, 1, 1, tzinfo=UTC))
    assert isinstance(outcome, FailedQuote)
    (field,) = outcome.error.fields
    assert field.field == "items[0].policy.start_month"
    assert "latest month of data (2025-12)" in field.message


def test_the_limit_of_months_ahead_is_the_plans(
    unseen_world: World, snapshot: ModelSnapshot
) -> None:
    site = sites_with_history(unseen_world, "2026-01")[0]
    body = request_for(unseen_world, site, "2026-01")
    inside, outside = copy.deepcopy(body), copy.deepcopy(body)
    inside["policy"]["start_month"] = _plus("2025-12", LIMITS.max_months_ahead)
    outside["policy"]["start_month"] = _plus("2025-12", LIMITS.max_months_ahead + 1)
    ok, refused = _price(snapshot, [inside, outside], datetime(2026, 1, 1, tzinfo=UTC))
    # the site may have ended by then: only the months-ahead rule is asserted here
    if isinstance(ok, FailedQuote):
        assert "planned end" in ok.error.fields[0].message
    assert isinstance(refused, FailedQuote)
    assert refused.error.fields[0].field == "items[1].policy.start_month"


def test_a_finished_site_is_refused_and_an_overrunning_one_priced(
    unseen_world: World, snapshot: ModelSnapshot
) -> None:
    site = sites_with_history(unseen_world, "2026-01")[0]
    body = request_for(unseen_world, site, "2026-01")
    # planned to end a year before the cover, still at work in the months before it
    overrun = copy.deepcopy(body)
    overrun["site"]["planned_end_date"] = "2024-12-31"
    overrun["site"]["start_date"] = min(overrun["site"]["start_date"], "2024-12-31")
    finished = copy.deepcopy(overrun)
    for m in finished["months"]:
        if m["month"] >= _plus("2026-01", -LIMITS.overrun_recent_months):
            m["worker_hours"] = 0.0
    priced, refused = _price(snapshot, [overrun, finished], datetime(2026, 1, 1, tzinfo=UTC))
    assert isinstance(priced, PricedQuote), priced
    assert isinstance(refused, FailedQuote)
    (field,) = refused.error.fields
    assert field.field == "items[1].policy.start_month"
    assert "planned end (2024-12)" in field.message


def test_a_pre_start_quote_too_far_from_today_is_refused(
    unseen_world: World, snapshot: ModelSnapshot
) -> None:
    site = unseen_world.sites.iloc[0]
    start = _month(site["start_date"])
    body = _pre_start(unseen_world, str(site["site_id"]), start)
    today = datetime(int(start[:4]) - 1, int(start[5:]), 1, tzinfo=UTC)
    (outcome,) = _price(snapshot, [body], today)
    assert isinstance(outcome, FailedQuote)
    assert outcome.error.fields[0].field == "items[0].policy.start_month"
    assert "after the current month" in outcome.error.fields[0].message
    # nor one starting years before the works
    early = _pre_start(
        unseen_world, str(site["site_id"]), _plus(start, -(LIMITS.max_months_ahead + 1))
    )
    (refused,) = _price(snapshot, [early], datetime(2030, 1, 1, tzinfo=UTC))
    assert isinstance(refused, FailedQuote)
    assert "before works start" in refused.error.fields[0].message
