"""The portal in a real headless browser (Debian's chromium, driven by Playwright),
against the service running on a loopback port: sign in with a contractor key, open a
site, switch language, read the figures off the page and hold them to the API's quote,
at phone and desktop widths; refusals for another contractor's site and for expired or
altered share links. Screenshots go to var/test-artifacts/portal/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from portal_helpers import (
    SECRET,
    Scenario,
    build_scenario,
    cents,
    cents_of,
    live_server,
    percent_of,
    portal_app,
    portal_settings,
)

from models.bundle import ModelBundle
from service.portal.tokens import PortalSigner
from training.synth import World

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.xdist_group("portal")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class Live:
    base_url: str
    scenario: Scenario
    api: httpx.Client

    def quote(self, name: str, who: str = "ins_a", lang: str = "zh") -> dict[str, Any]:
        """The stored quote as the API answers it now in ``lang``, to compare the page
        with."""
        quote_id = self.scenario.quotes[name]["quote_id"]
        answer = self.api.get(
            f"/v1/quotes/{quote_id}", params={"lang": lang}, headers=self.scenario.bearer(who)
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["language"] == lang
        return dict(answer.json())


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_db: Path,
    portal_bundle: ModelBundle,
    portal_world: World,
) -> Iterator[Live]:
    settings = portal_settings(tmp_path_factory.mktemp("portal-live"), migrated_db)
    with (
        live_server(portal_app(settings, portal_bundle)) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as api,
    ):
        scenario = build_scenario(api, settings, portal_world)
        yield Live(base_url, scenario, api)


def _sign_in(browser: Browser, live: Live, who: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport, base_url=live.base_url)
    page = context.new_page()
    page.goto("/portal")
    assert page.url.endswith("/portal/login?next=%2Fportal")
    page.get_by_label("承包商密钥").fill(live.scenario.keys[who])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live.base_url}/portal")
    return page


def _shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _assert_figures_match(page: Page, quote: dict[str, Any]) -> None:
    """Every figure of the summary, the table and the chart equals the quote's."""
    pricing = quote["pricing"]
    base, final = cents(pricing["base_premium_cny"]), cents(pricing["final_premium_cny"])
    assert cents_of(page.get_by_test_id("final-premium").inner_text()) == final
    assert cents_of(page.get_by_test_id("base-premium").inner_text()) == base
    shown_pct = percent_of(page.get_by_test_id("adjustment").inner_text())
    assert abs(shown_pct - pricing["adjustment_pct"]) <= 0.05 + 1e-9
    table = page.get_by_test_id("group-table")
    chart = page.get_by_test_id("waterfall")
    shown_total = 0
    # the rating plan's lines: the groups, exposure, off-balance, gate and band
    assert len(pricing["layers"]) == len(quote["explanation"]["groups"]) + 4
    for line in pricing["layers"]:
        effect = cents(line["premium_effect_cny"])
        cell = table.locator(f"tr[data-key='{line['layer']}'] [data-testid='group-effect']")
        assert cents_of(cell.inner_text()) == effect, line["layer"]
        bar = chart.locator(f"g[data-key='{line['layer']}']")
        assert int(bar.get_attribute("data-cents") or "x") == effect
        assert cents_of(bar.locator("text.bar-value").text_content() or "") == effect
        shown_total += cents_of(cell.inner_text())
    assert base + shown_total == final
    assert int(chart.locator("g[data-key='final']").get_attribute("data-cents") or "x") == final


def _assert_sections_visible(page: Page, quote: dict[str, Any]) -> None:
    for test_id in ("waterfall", "trend", "recommendations", "group-table", "history-table"):
        box = page.get_by_test_id(test_id).bounding_box()
        assert box is not None, test_id
        assert box["width"] > 100, test_id
        assert box["height"] > 20, test_id
    tiers = quote["incentives"]["tiers"]
    assert page.get_by_test_id("tier").count() == len(tiers)
    items = page.locator(".checklist li")
    assert items.count() == sum(len(t["criteria"]) for t in tiers)
    met = sum(c["met"] for t in tiers for c in t["criteria"])
    assert page.locator(".checklist li[data-met='true']").count() == met
    # Recommendations that would save something, with the quote's estimated saving.
    saving = [r for r in quote["recommendations"] if r["estimated_saving_cny"] > 0]
    # The scenario's sites all lag somewhere; only a premium held at the band's edge
    # (or by the gate) whatever they improve saves nothing.
    assert quote["recommendations"]
    assert saving or quote["pricing"]["clipped"] or quote["pricing"]["discount_withheld_cny"]
    shown = page.get_by_test_id("saving").all()
    assert [cents_of(s.inner_text()) for s in shown] == [
        cents(r["estimated_saving_cny"]) for r in saving
    ]
    # The page fits the screen: nothing scrolls sideways but the tables inside their box.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_contractor_signs_in_and_reads_its_site_in_both_languages(
    browser: Browser, live: Live, artifacts: Path, viewport: dict[str, int]
) -> None:
    size = "phone" if viewport is PHONE else "desktop"
    s = live.scenario
    page = _sign_in(browser, live, "c1", viewport)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    listed = {row.get_attribute("data-site") for row in page.locator("tr[data-site]").all()}
    assert listed == {s.site_a, s.site_b}  # never C2's site
    _shot(page, artifacts, f"sites-zh-{size}")

    page.get_by_role("link", name=f"查看工地 {s.site_a}").click()
    page.wait_for_url(f"**/portal/sites/{s.site_a}")
    quote = live.quote("a")
    assert page.get_by_role("heading", level=1).inner_text() == f"工地 {s.site_a}"
    assert page.get_by_role("heading", name="从基础保费到最终保费").is_visible()
    _assert_figures_match(page, quote)
    _assert_sections_visible(page, quote)
    # The trend has both quotes of the site, oldest first.
    assert page.locator("[data-testid='trend'] circle").count() == 2
    assert page.locator("[data-testid='history-table'] tbody tr").count() == 2
    sentences = page.get_by_test_id("factor-sentences").inner_text()
    top = quote["explanation"]["metrics"][0]  # the page shows metrics, windows folded
    assert top["text"] in sentences
    _shot(page, artifacts, f"site-zh-{size}")

    page.get_by_test_id("lang-switch").click()
    page.wait_for_url(f"**/portal/sites/{s.site_a}?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="From base to final premium").is_visible()
    en_top = live.quote("a", lang="en")["explanation"]["metrics"][0]
    assert en_top["metric"] == top["metric"]
    assert en_top["text"] in page.get_by_test_id("factor-sentences").inner_text()
    _assert_figures_match(page, quote)
    _assert_sections_visible(page, quote)
    _shot(page, artifacts, f"site-en-{size}")

    # The choice is remembered: the list now comes in English without asking.
    page.goto("/portal")
    assert page.get_by_role("heading", level=1).inner_text() == "My sites"
    page.context.close()


def test_the_data_quality_notice_shows_when_discounts_are_withheld(
    browser: Browser, live: Live, artifacts: Path
) -> None:
    quote = live.quote("b")
    assert not quote["data_quality"]["passed"]  # the scenario took the devices offline
    page = _sign_in(browser, live, "c1", PHONE)
    page.goto(f"/portal/sites/{live.scenario.site_b}")
    notice = page.get_by_test_id("dq-notice").inner_text()
    withheld = quote["pricing"]["discount_withheld_cny"]
    if withheld > 0:
        assert "未给予" in notice
        assert cents_of(notice) == cents(withheld)
    else:
        assert "无法获得保费优惠" in notice
    assert "设备在线率低于最低要求" in page.locator("#data-quality").inner_text()
    _assert_figures_match(page, quote)
    _shot(page, artifacts, "site-poor-data-zh-phone")
    page.context.close()


def test_another_contractors_site_is_not_found_by_editing_the_url(
    browser: Browser, live: Live, artifacts: Path
) -> None:
    s = live.scenario
    page = _sign_in(browser, live, "c1", DESKTOP)
    other = live.quote("c", who="ins_b")
    response = page.goto(f"/portal/sites/{s.site_c}")
    assert response is not None
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "未找到"
    assert "¥" not in page.content()  # nothing of the other site leaks
    assert other["site_id"] not in page.locator("main").inner_text()
    missing = page.goto("/portal/sites/NO-SUCH-SITE")
    assert missing is not None
    assert missing.status == 404  # the same answer as a site that does not exist
    _shot(page, artifacts, "refused-other-contractor")
    page.context.close()


def _share(live: Live, name: str = "a") -> dict[str, Any]:
    quote_id = live.scenario.quotes[name]["quote_id"]
    answer = live.api.post(
        f"/v1/quotes/{quote_id}/share",
        json={"expires_in_days": 3},
        headers=live.scenario.bearer("ins_a"),
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_share_link_opens_its_site_page_and_nothing_else(
    browser: Browser, live: Live, artifacts: Path
) -> None:
    link = _share(live)
    assert link["url"].startswith(f"{live.base_url}/portal/s/")
    context = browser.new_context(viewport=PHONE, base_url=live.base_url)
    page = context.new_page()
    response = page.goto(link["url"])
    assert response is not None
    assert response.status == 200
    assert page.get_by_test_id("shared-banner").is_visible()
    quote = live.quote("a")
    _assert_figures_match(page, quote)
    _assert_sections_visible(page, quote)
    _shot(page, artifacts, "shared-zh-phone")
    page.get_by_test_id("lang-switch").click()
    assert page.get_by_role("heading", name="From base to final premium").is_visible()
    _assert_figures_match(page, quote)
    # The link signed nobody in: every other page still asks for a key.
    for path in ("/portal", f"/portal/sites/{live.scenario.site_a}"):
        page.goto(path)
        assert "/portal/login" in page.url
    context.close()


def test_altered_expired_and_misdirected_links_are_refused(
    browser: Browser, live: Live, artifacts: Path
) -> None:
    s = live.scenario
    link = _share(live)
    token = link["path"].rsplit("/", 1)[1]
    payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    signer = PortalSigner(SECRET)
    maker = signer.read_share(token).key_id
    quote_b = s.quotes["b"]["quote_id"]
    cases = {
        "altered": (f"/portal/s/{payload}.{flipped}", 404),
        "truncated": (f"/portal/s/{payload}", 404),
        # Validly signed but naming a quote of another site: still no page.
        "misdirected": (
            "/portal/s/"
            + signer.share(quote_b, s.site_a, datetime.now(UTC) + timedelta(days=1), maker),
            404,
        ),
        "expired": (
            "/portal/s/"
            + signer.share(
                link["quote_id"], s.site_a, datetime.now(UTC) - timedelta(seconds=1), maker
            ),
            403,
        ),
    }
    context = browser.new_context(viewport=DESKTOP, base_url=live.base_url)
    page = context.new_page()
    for name, (path, status) in cases.items():
        response = page.goto(path)
        assert response is not None
        assert response.status == status, name
        assert page.get_by_test_id("final-premium").count() == 0, name
    assert page.get_by_role("heading", level=1).inner_text() == "链接已过期"
    _shot(page, artifacts, "refused-expired-link")
    context.close()


def _focused(page: Page) -> str:
    return str(
        page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e.getAttribute('data-testid') || e.getAttribute('href')"
            " || e.getAttribute('aria-labelledby') || e.id || e.tagName; })()"
        )
    )


def test_the_site_page_is_keyboard_navigable(browser: Browser, live: Live) -> None:
    page = _sign_in(browser, live, "c1", DESKTOP)
    page.goto(f"/portal/sites/{live.scenario.site_a}")
    order = []
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(_focused(page))
        # Wherever focus is, it can be seen.
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert order == ["#main", "/portal", "/portal", "lang-switch", "BUTTON"]
    # The skip link jumps past the header to the content, whose first stop is the
    # scrollable table of the waterfall.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert _focused(page) == "#main"
    page.keyboard.press("Enter")
    assert _focused(page) == "main"
    page.keyboard.press("Tab")
    assert _focused(page) == "wf-caption"
    # Every chart has a text alternative.
    for svg in page.locator("svg[role='img']").all():
        assert svg.locator("title").count() >= 1
        assert svg.locator("desc").count() == 1
    page.context.close()
