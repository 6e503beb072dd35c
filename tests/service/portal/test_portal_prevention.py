"""The prevention plan on the contractor's site page, in a real headless browser
(docs/prevention.md): once the insurer prices with a rate book, the page shows the
budget, and every service planned with its 工地画像 group, its gap and its cost, equal
to the quote's, in Chinese and English; a site priced without a book shows no plan.
The contractor's explanation API carries the same plan for its own site only."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from portal_helpers import (
    START,
    Scenario,
    build_scenario,
    cents,
    cents_of,
    live_server,
    portal_app,
    portal_settings,
    quote_body,
)

from models.bundle import ModelBundle
from models.pricing.ratebook import load_ratebook
from training.synth import World

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.xdist_group("portal")

PHONE = {"width": 390, "height": 844}


def _demanding_book() -> dict[str, Any]:
    """INS-A's book: the shipped default with targets every site misses somewhere."""
    doc = copy.deepcopy(dict(load_ratebook().document))
    doc.update(insurer_id="INS-A", version="2025.1", label="INS-A filing 2025.1")
    services = doc["prevention"]["services"]
    for name in ("training", "rectification_support", "alert_closure_support"):
        services[name]["target"] = 1.0
    services["crane_inspection"]["target"] = 0.0
    return doc


@dataclass
class Live:
    base_url: str
    scenario: Scenario
    api: httpx.Client
    quote: dict[str, Any]  # site_a's latest quote, priced with INS-A's book (in Chinese)
    english: dict[str, Any]  # the same quote read back in English


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_db: Path,
    portal_bundle: ModelBundle,
    portal_world: World,
) -> Iterator[Live]:
    settings = portal_settings(tmp_path_factory.mktemp("portal-prevention"), migrated_db)
    with (
        live_server(portal_app(settings, portal_bundle)) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as api,
    ):
        s = build_scenario(api, settings, portal_world)
        doc = _demanding_book()
        admin = s.bearer("admin")
        assert api.post("/v1/admin/ratebooks/", json=doc, headers=admin).status_code == 201
        done = api.post("/v1/admin/ratebooks/INS-A/2025.1/activate", headers=admin)
        assert done.status_code == 200, done.text
        answer = api.post(
            "/v1/quotes", json=quote_body(portal_world, s.site_a, START), headers=s.bearer("ins_a")
        )
        assert answer.status_code == 201, answer.text
        quote = answer.json()
        assert quote["language"] == "zh"
        english = api.get(
            f"/v1/quotes/{quote['quote_id']}", params={"lang": "en"}, headers=s.bearer("ins_a")
        )
        assert english.status_code == 200, english.text
        assert english.json()["language"] == "en"
        yield Live(base_url, s, api, quote, english.json())


def _sign_in(browser: Browser, live: Live, who: str) -> Page:
    context = browser.new_context(viewport=PHONE, base_url=live.base_url)
    page = context.new_page()
    page.goto("/portal/login")
    page.get_by_label("承包商密钥").fill(live.scenario.keys[who])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live.base_url}/portal")
    return page


def _assert_plan_matches(page: Page, plan: dict[str, Any]) -> None:
    """The page shows ``plan`` (the quote's, in the page's language)."""
    section = page.locator("#prevention")
    assert section.is_visible()
    assert cents_of(page.get_by_test_id("prevention-budget").inner_text()) == cents(
        plan["budget_cny"]
    )
    assert cents_of(page.get_by_test_id("prevention-cost").inner_text()) == cents(plan["cost_cny"])
    assert cents_of(page.get_by_test_id("prevention-remaining").inner_text()) == cents(
        plan["remaining_cny"]
    )
    assert page.get_by_test_id("prevention-summary").inner_text() == plan["text"]
    for testid, items in (
        ("prevention-items", plan["items"]),
        ("prevention-not-funded", plan["not_funded"]),
    ):
        rows = page.get_by_test_id(testid).locator("tbody tr") if items else None
        if rows is None:
            assert page.get_by_test_id(testid).count() == 0
            continue
        assert rows.count() == len(items)
        for item in items:
            row = page.get_by_test_id(testid).locator(f"tr[data-service='{item['service']}']")
            assert row.locator("th").inner_text() == item["label"]
            assert row.locator("[data-col='group']").inner_text() == item["group_label"]
            assert cents_of(row.locator("[data-col='cost']").inner_text()) == cents(
                item["cost_cny"]
            )
            assert row.locator("[data-col='gap']").inner_text().strip() != ""
            assert str(item["units"]) in row.locator("[data-col='units']").inner_text()
    # the insurer's figures stay off the page: the expected loss a service removes in yuan
    text = section.inner_text()
    for item in plan["items"] + plan["not_funded"]:
        if item["risk_reduction_cny"] >= 1:
            assert f"{item['risk_reduction_cny']:,.2f}" not in text


def test_the_contractor_page_shows_the_plan_in_both_languages(
    browser: Browser, live: Live, artifacts: Path
) -> None:
    plan = live.quote["prevention"]
    assert plan is not None
    assert plan["items"] or plan["not_funded"], "the demanding book finds no gap at all"
    page = _sign_in(browser, live, "c1")
    page.goto(f"/portal/sites/{live.scenario.site_a}")
    assert page.get_by_role("heading", name="事故预防服务计划").is_visible()
    _assert_plan_matches(page, plan)
    page.locator("#prevention").screenshot(path=str(artifacts / "prevention-zh-phone.png"))
    page.get_by_test_id("lang-switch").click()
    page.wait_for_url(f"**/portal/sites/{live.scenario.site_a}?lang=en")
    assert page.get_by_role("heading", name="Accident-prevention plan").is_visible()
    _assert_plan_matches(page, live.english["prevention"])
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.context.close()


def test_a_site_priced_without_a_book_has_no_plan(browser: Browser, live: Live) -> None:
    page = _sign_in(browser, live, "c2")
    page.goto(f"/portal/sites/{live.scenario.site_c}")  # INS-B has no book
    assert page.get_by_role("heading", level=1).is_visible()
    assert page.locator("#prevention").count() == 0
    page.context.close()


def test_the_explanation_api_carries_the_plan_for_the_contractors_own_site(live: Live) -> None:
    s, plan = live.scenario, live.english["prevention"]
    own = live.api.get(
        f"/v1/sites/{s.site_a}/explanation", params={"lang": "en"}, headers=s.bearer("c1")
    )
    assert own.status_code == 200, own.text
    shown = own.json()["prevention"]
    assert cents(shown["budget_cny"]) == cents(plan["budget_cny"])
    assert [i["service"] for i in shown["items"]] == [i["service"] for i in plan["items"]]
    for got, want in zip(
        shown["items"] + shown["not_funded"], plan["items"] + plan["not_funded"], strict=True
    ):
        assert (got["group"], got["gap"], got["cost_cny"]) == (
            want["group"], want["gap"], want["cost_cny"],
        )  # fmt: skip
        assert got["text"] == want["text"]
        assert "risk_reduction_cny" not in got  # the expected loss is the insurer's
    # another contractor's site: the same 404 as a site that does not exist
    other = live.api.get(f"/v1/sites/{s.site_a}/explanation", headers=s.bearer("c2"))
    missing = live.api.get("/v1/sites/NO-SUCH-SITE/explanation", headers=s.bearer("c2"))
    assert other.status_code == missing.status_code == 404
