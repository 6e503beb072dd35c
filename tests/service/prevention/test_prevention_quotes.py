"""A quote priced by a rate book carries its prevention plan (docs/prevention.md): the
budget is the book's share of the final premium to the cent, every item names its
group, its gap to the book's target and its cost, the items fit within the budget and
were chosen by risk reduction per yuan, and the stored quote replays to the byte."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prevention_helpers import activate, bearer, book, quote_body, ready_sites
from sqlmodel import select

from models.bundle import ModelBundle
from models.contract import spec
from models.pricing import round_cent
from models.pricing.ratebook import parse_ratebook
from models.settings import Settings
from service.db.engine import Database
from service.db.tables import Quote
from service.model_provider import StaticModelProvider
from service.quotes.replay import replay_quote
from service.quotes.stored import stored_answer
from service.quotes.texts import render
from training.synth import World


def _cents(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))


@pytest.fixture(scope="module")
def books(app_client: TestClient[Litestar], keys: dict[str, str]) -> dict[str, Any]:
    acme = book("acme", prevention_share=0.05)
    # zenith: a larger share and training made dear, so the plan has to choose
    zenith = book("zenith", prevention_share=0.08)
    zenith["prevention"]["services"]["training"]["cost_per_unit_cny"] = 40000
    for doc in (acme, zenith):
        activate(app_client, keys["admin"], doc)
    return {"acme": acme, "zenith": zenith}


@pytest.fixture(scope="module")
def answers(
    app_client: TestClient[Litestar],
    keys: dict[str, str],
    books: dict[str, Any],
    prevention_world: World,
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for who in ("acme", "zenith", "nobook"):
        for site_id in ready_sites(prevention_world)[:12]:
            body = quote_body(prevention_world, site_id)
            got = app_client.post("/v1/quotes", json=body, headers=bearer(keys[who]))
            assert got.status_code == 201, got.text
            out.setdefault(who, []).append(got.json())
    return out


@pytest.fixture(scope="module")
def english(
    app_client: TestClient[Litestar],
    keys: dict[str, str],
    answers: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Each quote of a book's insurer read back in English, by quote id (the answers
    are in Chinese, the default)."""
    out: dict[str, dict[str, Any]] = {}
    for who in ("acme", "zenith"):
        for a in answers[who]:
            assert a["language"] == "zh"
            got = app_client.get(f"/v1/quotes/{a['quote_id']}?lang=en", headers=bearer(keys[who]))
            assert got.status_code == 200, got.text
            out[a["quote_id"]] = got.json()
    return out


def test_the_budget_is_the_share_of_the_final_premium_to_the_cent(
    answers: dict[str, list[dict[str, Any]]], books: dict[str, Any]
) -> None:
    for who in ("acme", "zenith"):
        share = parse_ratebook(books[who]).prevention_share
        for a in answers[who]:
            final = _cents(a["pricing"]["final_premium_cny"])
            budget = round_cent(final * share)
            assert _cents(a["pricing"]["prevention_budget_cny"]) == budget
            plan = a["prevention"]
            assert _cents(plan["budget_cny"]) == budget
            assert plan["rate_book"] == f"{who}-2025.1"
            assert plan["share"] == float(share)
    for a in answers["nobook"]:
        assert a["pricing"]["prevention_budget_cny"] is None
        assert a["prevention"] is None


def test_every_item_names_its_group_its_gap_and_its_cost(
    answers: dict[str, list[dict[str, Any]]],
    english: dict[str, dict[str, Any]],
    books: dict[str, Any],
) -> None:
    seen = 0
    for who in ("acme", "zenith"):
        services = books[who]["prevention"]["services"]
        for a in answers[who]:
            plan, en_plan = a["prevention"], english[a["quote_id"]]["prevention"]
            en_items = en_plan["items"] + en_plan["not_funded"]
            for item, en in zip(plan["items"] + plan["not_funded"], en_items, strict=True):
                assert en["service"] == item["service"]
                seen += 1
                service = services[item["service"]]
                assert item["metric"] == service["metric"]
                column = spec.column("site_months", item["metric"])
                assert column.group is not None
                assert item["group"] == column.group.value
                assert item["target"] == service["target"]
                rate = spec.controllable()[item["metric"]] < 0
                gap = item["target"] - item["current"] if rate else item["current"] - item["target"]
                assert item["gap"] == pytest.approx(gap)
                assert gap > 0
                units = min(math.ceil(gap / service["gap_per_unit"] - 1e-9), service["max_units"])
                assert item["units"] == units
                assert _cents(item["cost_cny"]) == round_cent(
                    Decimal(repr(service["cost_per_unit_cny"])) * units
                )
                # both languages name the group and the cost
                assert item["group_label"] in item["text"]
                assert en["group_label"] in en["text"]
                assert en["group_label"] != item["group_label"]
                assert f"{item['cost_cny']:,.2f}" in item["text"]
                assert f"{item['cost_cny']:,.2f}" in en["text"]
                assert 0 <= item["risk_reduction_cny"] <= a["risk"]["expected_loss_cny"]
    assert seen > 0, "no site of the world lags any target: the test checks nothing"


def test_the_items_fit_the_budget_chosen_by_risk_reduction_per_yuan(
    answers: dict[str, list[dict[str, Any]]],
) -> None:
    skipped = 0
    for who in ("acme", "zenith"):
        for a in answers[who]:
            plan = a["prevention"]
            bought = plan["items"]
            cost = sum(_cents(i["cost_cny"]) for i in bought)
            assert _cents(plan["cost_cny"]) == cost <= _cents(plan["budget_cny"])
            assert _cents(plan["remaining_cny"]) == _cents(plan["budget_cny"]) - cost
            ratios = [i["risk_reduction_cny"] / i["cost_cny"] for i in bought]
            assert ratios == sorted(ratios, reverse=True)
            assert all(i["not_funded"] is None and i["risk_reduction_cny"] > 0 for i in bought)
            left = _cents(plan["budget_cny"])
            for item in plan["not_funded"]:
                skipped += 1
                if item["not_funded"] == "over_budget":
                    # it was skipped because it no longer fit: after the items bought
                    # before it (those with a better ratio), too little was left
                    better = [
                        i for i in bought
                        if i["risk_reduction_cny"] / i["cost_cny"]
                        >= item["risk_reduction_cny"] / item["cost_cny"]
                    ]  # fmt: skip
                    assert _cents(item["cost_cny"]) > left - sum(
                        _cents(i["cost_cny"]) for i in better
                    )
                else:
                    assert item["not_funded"] == "no_risk_reduction"
                    assert item["risk_reduction_cny"] <= 0
    assert skipped > 0, "every gap was bought: the budget rule is not exercised"


def test_the_stored_quote_holds_the_plan_and_replays_to_the_byte(
    module_settings: Settings,
    prevention_bundle: ModelBundle,
    answers: dict[str, list[dict[str, Any]]],
    books: dict[str, Any],
) -> None:
    database = Database(module_settings.db_url)
    with database.session() as session:
        rows = session.exec(select(Quote).where(Quote.insurer_id == "zenith")).all()
    database.dispose()
    assert len(rows) == len(answers["zenith"])
    by_id = {a["quote_id"]: a for a in answers["zenith"]}
    snapshot = StaticModelProvider(prevention_bundle, name="site-risk", version="7").current()
    assert snapshot is not None
    book_of = parse_ratebook(books["zenith"])
    for row in rows:
        # stored as facts without texts; written in Chinese, exactly the plan answered
        assert row.response["prevention"]["text"] is None
        stored = stored_answer(row.response)
        shown = msgspec.to_builtins(render(stored, "zh", lambda i, v: book_of))
        assert shown["prevention"] == by_id[row.id]["prevention"]
        report = replay_quote(row, snapshot, parse_ratebook(books["zenith"]))
        assert report.matched, report.differences
        assert "prevention" not in report.added
