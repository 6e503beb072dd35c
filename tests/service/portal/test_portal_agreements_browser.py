"""The agreement pages in a real headless browser (Debian's chromium, Playwright)
against the service on a loopback port (issue 19, items 3 and 4): an owner signs in,
reads its agreement's evaluation and statement in Chinese and English and downloads the
statement's bytes; a contractor signed in to the portal reads it too; another owner
gets the not-found page. Figures are held to the API's answers. Screenshots go to
var/test-artifacts/portal/."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest
from portal_helpers import live_server, portal_settings

from models.contract import validate_frames
from service.app import create_app
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.feed.store import FeedStore
from service.portal.i18n import Translator
from training.synth import generate_world

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.xdist_group("portal")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class Live:
    base_url: str
    api: httpx.Client
    keys: dict[str, str]
    agreement: dict[str, Any]

    def get(self, path: str, who: str = "owner") -> httpx.Response:
        answer = self.api.get(path, headers={"Authorization": f"Bearer {self.keys[who]}"})
        assert answer.status_code == 200, answer.text
        return answer


def _feed_world(settings: Any) -> tuple[pd.Series, dict[str, str]]:
    """A generated world, its sites owned by OWN-A or OWN-B, fed as the platform and an
    insurer; keys of the parties of one OWN-A site with a full year of rows."""
    world = generate_world(40, seed=31, months=18, start="2024-01")
    owners = ["OWN-A" if i % 2 == 0 else "OWN-B" for i in range(len(world.sites))]
    world = dataclasses.replace(world, sites=world.sites.assign(owner_id=owners))
    data = validate_frames(world.sites, world.site_months, world.claims)
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            store = ApiKeyStore(session, settings.key_pepper.get_secret_value())
            made = {
                "platform": store.create(KeySpec.parse("platform")),
                "owner": store.create(KeySpec.parse("owner", owner_id="OWN-A")),
                "other_owner": store.create(KeySpec.parse("owner", owner_id="OWN-B")),
            }
            sm = world.site_months[world.site_months["month"].between("2024-07", "2025-06")]
            full = sm.groupby("site_id")["month"].nunique()
            owned = world.sites[world.sites["owner_id"] == "OWN-A"]
            site = next(s for _, s in owned.iterrows() if full.get(s["site_id"], 0) == 12)
            spec = KeySpec.parse("contractor", contractor_id=str(site["contractor_id"]))
            made["contractor"] = store.create(spec)
        with database.session() as session:
            feed = FeedStore(session)
            feed.upsert(data, ("sites", "site_months"), fed_by=made["platform"].row.id)
            feed.upsert(data, ("claims",), fed_by=None, insurer_id="INS-A")
    finally:
        database.dispose()
    return site, {name: issued.key for name, issued in made.items()}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, migrated_db: Path) -> Iterator[Live]:
    settings = portal_settings(tmp_path_factory.mktemp("agreements-live"), migrated_db)
    site, keys = _feed_world(settings)
    with (
        live_server(create_app(settings)) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as api,
    ):

        def call(method: str, path: str, who: str, **kwargs: Any) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {keys[who]}"}
            answer = api.request(method, path, headers=headers, **kwargs)
            assert answer.status_code in (200, 201), answer.text
            return dict(answer.json())

        terms = {
            "rewards": {"safety_target_bonus": {"kind": "cny", "value": "80000.00"}},
            "penalties": {
                "hazards_left_open": {"kind": "cny", "value": "12000.00"},
                "data_not_reported": {"kind": "share_of_contract_sum", "value": "0.0005"},
            },
            "contract_sum_cny": "60000000.00",
            "penalty_when_not_evaluable": "apply",
        }
        agreement = call(
            "POST",
            "/v1/agreements",
            "owner",
            json={
                "site_id": site["site_id"],
                "contractor_id": site["contractor_id"],
                "insurer_id": "INS-A",
                "first_month": "2024-07",
                "last_month": "2025-06",
                "rule_set_version": "sample-plan-2026.1",
                "terms": terms,
            },
        )
        for who in ("owner", "contractor"):
            call("POST", f"/v1/agreements/{agreement['id']}/accept", who)
        call("POST", f"/v1/agreements/{agreement['id']}/statement", "owner")
        yield Live(base_url, api, keys, agreement)


def _owner_page(browser: Browser, live: Live, viewport: dict[str, int], who: str = "owner") -> Page:
    context = browser.new_context(viewport=viewport, base_url=live.base_url)
    page = context.new_page()
    page.goto("/portal/agreements")
    assert "/portal/agreements/login" in page.url
    page.get_by_label("业主或承包商密钥").fill(live.keys[who])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live.base_url}/portal/agreements")
    return page


def _shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _criterion(evaluation: dict[str, Any], tier: str, name: str) -> dict[str, Any]:
    group = next(t for t in evaluation["tiers"] if t["name"] == tier)
    return dict(next(c for c in group["criteria"] if c["name"] == name))


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_owner_reads_its_agreement_and_statement_in_both_languages(
    browser: Browser, live: Live, artifacts: Path, viewport: dict[str, int]
) -> None:
    size = "phone" if viewport is PHONE else "desktop"
    agreement_id = live.agreement["id"]
    evaluation = live.get(f"/v1/agreements/{agreement_id}/evaluation").json()
    page = _owner_page(browser, live, viewport)
    rows = page.locator("tr[data-agreement]")
    assert [r.get_attribute("data-agreement") for r in rows.all()] == [agreement_id]
    assert rows.first.locator("[data-status]").inner_text() == "已生效"
    _shot(page, artifacts, f"agreements-zh-{size}")

    page.get_by_role("link", name=f"查看工地 {live.agreement['site_id']} 的协议").click()
    page.wait_for_url(f"**/portal/agreements/{agreement_id}")
    zh = Translator("zh")
    assert zh.month(evaluation["through_month"]) in page.get_by_test_id("through").inner_text()
    closure = _criterion(evaluation, "safety_target_bonus", "alert_closure")
    row = page.locator("tr[data-criterion='safety_target_bonus.alert_closure']")
    assert row.get_by_test_id("value").inner_text() == zh.share(closure["value"])
    outcomes = {"met": "达标", "not_met": "未达标", "not_evaluable": "无法评估"}
    assert row.get_by_test_id("outcome").inner_text().startswith(outcomes[closure["outcome"]])
    for tier in evaluation["tiers"]:
        shown = page.locator(f"[data-tier='{tier['name']}'] [data-testid='tier-outcome']")
        assert shown.inner_text() == outcomes[tier["outcome"]]
    months = page.locator("[data-months='safety_target_bonus.alert_closure'] tr[data-month]")
    assert months.count() == len(closure["by_month"]) == 12
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    _shot(page, artifacts, f"agreement-zh-{size}")

    page.get_by_test_id("lang-switch").click()
    page.wait_for_url(f"**/portal/agreements/{agreement_id}?lang=en")
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == f"Incentive agreement for site {live.agreement['site_id']}"
    _shot(page, artifacts, f"agreement-en-{size}")

    page.get_by_test_id("statement-link").click()
    page.wait_for_url(f"**/portal/agreements/{agreement_id}/statement")
    stored = live.get(f"/v1/agreements/{agreement_id}/statement")
    statement = stored.json()
    en = Translator("en")
    assert page.get_by_test_id("net").inner_text() == en.money(float(statement["net_cny"]))
    assert page.get_by_test_id("penalty").inner_text() == en.money(float(statement["penalty_cny"]))
    amounts = [a.inner_text() for a in page.get_by_test_id("line-amount").all()]
    assert amounts == [en.money(float(line["amount_cny"])) for line in statement["lines"]]
    assert page.get_by_test_id("hash").inner_text() == stored.headers["x-content-hash"]
    download = page.request.get(page.get_by_test_id("download").get_attribute("href") or "")
    assert download.ok
    assert download.body() == stored.content  # the stored bytes, as the API gives them
    assert "attachment" in download.headers["content-disposition"]
    _shot(page, artifacts, f"statement-en-{size}")
    page.context.close()


def test_a_contractor_signed_in_to_the_portal_reads_it_and_another_owner_cannot(
    browser: Browser, live: Live
) -> None:
    agreement_id = live.agreement["id"]
    context = browser.new_context(viewport=DESKTOP, base_url=live.base_url)
    page = context.new_page()
    page.goto("/portal/login")
    page.get_by_label("承包商密钥").fill(live.keys["contractor"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live.base_url}/portal")
    page.goto(f"/portal/agreements/{agreement_id}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("工地")
    context.close()

    page = _owner_page(browser, live, DESKTOP, who="other_owner")
    assert page.locator("tr[data-agreement]").count() == 0
    answer = page.goto(f"/portal/agreements/{agreement_id}")
    missing = page.request.get("/portal/agreements/00000000-0000-4000-8000-000000000000")
    assert answer is not None
    assert answer.status == missing.status == 404
    statement = page.request.get(f"/portal/agreements/{agreement_id}/statement.json")
    assert statement.status == 404
    page.context.close()
