"""The prevention plan's arithmetic (models/pricing/prevention.py, docs/prevention.md):
the budget to the cent, a service's gap, units and cost, and the greedy choice within
the budget, each worked out by hand."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from models.pricing import prevention
from models.pricing.ratebook import (
    PreventionService,
    RateBookError,
    default_prevention,
    load_ratebook,
    parse_ratebook,
)


def _service(name: str = "training", **changes: object) -> PreventionService:
    values: dict[str, object] = {
        "name": name,
        "label_zh": "培训",
        "label_en": "Training",
        "metric": "training_coverage",
        "direction": -1,
        "target": 0.95,
        "unit_zh": "场",
        "unit_en": "session",
        "cost_per_unit": Decimal("3000"),
        "gap_per_unit": 0.10,
        "max_units": 12,
    }
    values.update(changes)
    return PreventionService(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("final", "share", "budget"),
    [
        ("10000.00", "0.05", "500.00"),
        ("1234.50", "0.05", "61.73"),  # 61.725: a half rounds up
        ("1234.10", "0.05", "61.71"),  # 61.705: half up, where half-even would give .70
        ("999.99", "0.08", "80.00"),  # 79.9992
        ("0.00", "0.05", "0.00"),
    ],
)
def test_the_budget_is_the_share_of_the_final_premium_half_up_to_the_cent(
    final: str, share: str, budget: str
) -> None:
    assert prevention.budget(Decimal(final), Decimal(share)) == Decimal(budget)


def test_a_rate_below_its_target_needs_whole_units_to_close_the_gap() -> None:
    r = prevention.reach(_service(), 0.62)
    assert r is not None
    assert r.gap == pytest.approx(0.33)
    assert r.units == 4  # 0.33 / 0.10 -> 3.3 -> 4 sessions
    assert r.reached == pytest.approx(0.95)  # four sessions close it
    assert r.cost == Decimal("12000.00")
    assert r.group == "training"


def test_a_count_above_its_target_and_the_cap_on_units() -> None:
    crane = _service(
        "crane", metric="crane_warnings", direction=1, target=0.5, gap_per_unit=0.5,
        cost_per_unit=Decimal("5000"), max_units=3,
    )  # fmt: skip
    r = prevention.reach(crane, 4.1)
    assert r is not None
    assert r.gap == pytest.approx(3.6)
    assert r.units == 3  # 8 would close it; the book allows 3 a term
    assert r.reached == pytest.approx(2.6)  # 4.1 - 3 x 0.5
    assert r.cost == Decimal("15000.00")
    assert r.group == "equipment"


def test_no_gap_no_service() -> None:
    assert prevention.reach(_service(), 0.95) is None
    assert prevention.reach(_service(), 0.99) is None
    assert prevention.reach(_service(), float("nan")) is None
    count = _service(metric="crane_warnings", direction=1, target=0.5)
    assert prevention.reach(count, 0.5) is None
    # an exact multiple needs exactly that many units, float noise aside
    r = prevention.reach(_service(), 0.75)
    assert r is not None
    assert r.units == 2


def _priced(name: str, cost: str, reduction: float) -> prevention.Priced:
    service = _service(name, cost_per_unit=Decimal(cost), gap_per_unit=1.0)
    r = prevention.reach(service, 0.5)
    assert r is not None
    assert r.units == 1
    return prevention.Priced(r, reduction, Decimal("1.00"))


def test_the_plan_buys_by_risk_reduction_per_yuan_within_the_budget() -> None:
    a = _priced("a", "1000", 300.0)  # 0.30 per yuan
    b = _priced("b", "400", 200.0)  # 0.50 per yuan: first
    c = _priced("c", "700", 140.0)  # 0.20 per yuan: no longer fits after a and b
    d = _priced("d", "100", 10.0)  # 0.10 per yuan: still fits
    e = _priced("e", "50", 0.0)  # the model credits it with nothing
    plan = prevention.plan(Decimal("1600.00"), [a, b, c, d, e])
    assert [p.reach.service.name for p in plan.items] == ["b", "a", "d"]
    assert plan.cost == Decimal("1500.00")
    assert plan.remaining == Decimal("100.00")
    assert [(p.reach.service.name, why) for p, why in plan.not_funded] == [
        ("c", "over_budget"),
        ("e", "no_risk_reduction"),
    ]
    assert plan.cost <= plan.budget


def test_a_budget_too_small_for_anything_buys_nothing() -> None:
    plan = prevention.plan(Decimal("99.99"), [_priced("a", "100", 5.0)])
    assert plan.items == ()
    assert plan.remaining == Decimal("99.99")
    assert [why for _, why in plan.not_funded] == ["over_budget"]


# ------------------------------------------------------------------ the book's block


def test_the_shipped_default_book_has_a_prevention_block_and_others_inherit_it() -> None:
    book = load_ratebook("default-2025.1")
    names = [s.name for s in book.prevention]
    assert names == sorted(names)
    metrics = {s.metric for s in book.prevention}
    assert {"training_coverage", "crane_warnings", "hazard_rectification_rate"} <= metrics
    doc = copy.deepcopy(dict(book.document))
    doc.update(insurer_id="acme", version="1")
    del doc["prevention"]
    assert parse_ratebook(doc).prevention == default_prevention() == book.prevention
    # a book's own block replaces the default one whole
    training = dict(book.document["prevention"]["services"]["training"])
    doc["prevention"] = {"services": {"t": training}}
    assert [s.name for s in parse_ratebook(doc).prevention] == ["t"]


def test_a_bad_prevention_block_is_refused_with_every_problem_at_its_path() -> None:
    doc = copy.deepcopy(dict(load_ratebook().document))
    doc.update(insurer_id="acme", version="1")
    services = doc["prevention"]["services"]
    services["training"]["target"] = 1.5  # a share above 1
    services["training"]["cost_per_unit_cny"] = "3000"  # text, not a number
    services["crane_inspection"]["metric"] = "hazards_found"  # never advised down
    services["rectification_support"]["metric"] = "training_coverage"  # a second one
    services["alert_closure_support"]["gap_per_unit"] = 0  # must be positive
    services["hazardous_works_monitoring"]["colour"] = "red"  # unknown key
    with pytest.raises(RateBookError) as caught:
        parse_ratebook(doc)
    paths = {p.path for p in caught.value.problems}
    at = "$.prevention.services"
    assert paths == {
        f"{at}.training.target",
        f"{at}.training.cost_per_unit_cny",
        f"{at}.crane_inspection.metric",
        f"{at}.rectification_support.metric",
        f"{at}.alert_closure_support.gap_per_unit",
        f"{at}.hazardous_works_monitoring.colour",
    }
    doc["prevention"] = {"services": {}}
    with pytest.raises(RateBookError, match=r"\$\.prevention\.services: "):
        parse_ratebook(doc)
