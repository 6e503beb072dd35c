"""The portal over HTTP without a browser: who gets in and how (cookies, form tokens,
revocation, expiry), the share endpoint's rules, what a page leaves out, and the
headers every page carries."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from portal_helpers import PEPPER, SECRET, Scenario, portal_app, portal_settings

from models.bundle import ModelBundle
from models.settings import Settings
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.portal.access import CSRF_COOKIE, SESSION_COOKIE
from service.portal.tokens import PortalSigner
from service.portal.web import PORTAL_CSP

pytestmark = pytest.mark.xdist_group("portal")

Client = TestClient[Litestar]


def _csrf(client: Client) -> str:
    client.get("/portal/login")
    token = client.cookies.get(CSRF_COOKIE)
    assert token
    return str(token)


def _sign_in(client: Client, key: str, next_path: str = "/portal") -> Any:
    return client.post(
        "/portal/login",
        data={"api_key": key, "csrf": _csrf(client), "next": next_path},
        follow_redirects=False,
    )


@pytest.fixture
def c1(portal_client: Client, scenario: Scenario) -> Client:
    """The module's client, signed in as contractor C1 (cookies reset per test)."""
    portal_client.cookies.clear()
    response = _sign_in(portal_client, scenario.keys["c1"])
    assert response.status_code == 303, response.text
    return portal_client


def test_pages_carry_a_strict_policy_and_no_inline_code(c1: Client, scenario: Scenario) -> None:
    page = c1.get(f"/portal/sites/{scenario.site_a}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == PORTAL_CSP
    assert "unsafe-inline" not in PORTAL_CSP
    assert "script-src" not in PORTAL_CSP  # default-src 'none': no scripts at all
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "<script" not in html
    assert "style=" not in html  # CSP allows no inline styles
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html  # nothing from a CDN
    css = c1.get("/portal/static/portal.css")  # no key, no session needed
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "max-age=3600" in css.headers["cache-control"]


def test_a_page_shows_nothing_that_is_the_insurers_alone(c1: Client, scenario: Scenario) -> None:
    html = c1.get(f"/portal/sites/{scenario.site_a}").text
    quote = scenario.quotes["a"]
    assert "INS-A" not in html
    assert quote["model"]["uri"] not in html
    loss = f"{quote['risk']['expected_loss_cny']:,.2f}"
    assert loss not in html
    assert "expected_loss" not in html


def test_without_a_session_pages_send_the_browser_to_sign_in(
    portal_client: Client, scenario: Scenario
) -> None:
    portal_client.cookies.clear()
    for path in ("/portal", f"/portal/sites/{scenario.site_a}"):
        response = portal_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/portal/login?next=%2Fportal")
    assert "承包商登录" in portal_client.get("/portal").text


def test_sign_in_sets_a_signed_http_only_lax_cookie_for_the_portal_only(
    portal_client: Client, scenario: Scenario
) -> None:
    portal_client.cookies.clear()
    response = _sign_in(portal_client, scenario.keys["c1"], f"/portal/sites/{scenario.site_a}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/portal/sites/{scenario.site_a}"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "Path=/portal" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=28800" in cookie  # portal_session_minutes = 480
    assert "secure" not in attributes  # the test settings turn Secure off
    assert scenario.keys["c1"] not in cookie  # the key never goes to the browser


def test_cookies_are_secure_unless_configured_otherwise(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_db: Any,
    portal_bundle: ModelBundle,
) -> None:
    settings = portal_settings(
        tmp_path_factory.mktemp("secure"), migrated_db, portal_cookie_secure=None, env="prod"
    )
    assert settings.portal_cookies_secure
    with TestClient(
        portal_app(settings, portal_bundle), base_url="https://testserver.local"
    ) as client:
        response = client.get("/portal/login")
        assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("who", "status", "message"),
    [
        ("nobody", 401, "密钥无效或已被吊销"),
        ("ins_a", 403, "这不是承包商密钥"),
        ("admin", 403, "这不是承包商密钥"),
    ],
)
def test_only_a_valid_contractor_key_signs_in(
    portal_client: Client, scenario: Scenario, who: str, status: int, message: str
) -> None:
    portal_client.cookies.clear()
    key = scenario.keys.get(who, "srk_000000000000_" + "x" * 43)
    response = _sign_in(portal_client, key)
    assert response.status_code == status
    assert message in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_a_form_without_its_token_is_refused(portal_client: Client, scenario: Scenario) -> None:
    portal_client.cookies.clear()
    response = portal_client.post(
        "/portal/login",
        data={"api_key": scenario.keys["c1"], "csrf": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "表单已失效" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/portal", "/v1/quotes", "/portal\\@evil"]
)
def test_sign_in_never_redirects_off_the_portal(
    portal_client: Client, scenario: Scenario, target: str
) -> None:
    portal_client.cookies.clear()
    response = _sign_in(portal_client, scenario.keys["c1"], target)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal"


def test_revoking_the_key_ends_its_sessions_at_once(
    c1: Client, scenario: Scenario, module_settings: Settings
) -> None:
    assert c1.get("/portal").status_code == 200
    database = Database(module_settings.db_url)
    try:
        with database.session() as session:
            store = ApiKeyStore(session, PEPPER)
            (row,) = [r for r in store.list() if r.contractor_id == scenario.c1 and not r.revoked]
            assert row.id is not None
            store.revoke(row.id)
            replacement = store.create(KeySpec.parse("contractor", contractor_id=scenario.c1))
    finally:
        database.dispose()
    response = c1.get("/portal", follow_redirects=False)
    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]
    scenario.keys["c1"] = replacement.key  # the other tests sign in with a live key


def test_an_expired_or_tampered_session_signs_out(
    portal_client: Client, scenario: Scenario, module_settings: Settings
) -> None:
    c1_id = int(PortalSigner(SECRET).read_session(_session_of(portal_client, scenario)).key_id)
    past = PortalSigner(SECRET, clock=lambda: time.time() - 10_000)
    for token in (past.session(c1_id, scenario.c1, 60), "garbage.token"):
        portal_client.cookies.clear()
        portal_client.cookies.set(SESSION_COOKIE, token, path="/portal")
        response = portal_client.get("/portal", follow_redirects=False)
        assert response.status_code == 303
        assert "expired=1" in response.headers["location"]
    # A session claiming another contractor under a valid key id is not honoured either.
    portal_client.cookies.clear()
    forged = PortalSigner(SECRET).session(c1_id, scenario.c2, 60)
    portal_client.cookies.set(SESSION_COOKIE, forged, path="/portal")
    assert portal_client.get("/portal", follow_redirects=False).status_code == 303
    assert module_settings.portal_secret is not None


def _session_of(client: Client, scenario: Scenario) -> str:
    client.cookies.clear()
    assert _sign_in(client, scenario.keys["c1"]).status_code == 303
    token = client.cookies.get(SESSION_COOKIE)
    assert token
    return str(token)


def test_sign_out_needs_the_form_token_and_clears_the_session(c1: Client) -> None:
    assert c1.post("/portal/logout", data={"csrf": "forged"}).status_code == 403
    assert c1.get("/portal", follow_redirects=False).status_code == 200
    response = c1.post(
        "/portal/logout", data={"csrf": c1.cookies.get(CSRF_COOKIE)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/login?bye=1"
    assert c1.get("/portal", follow_redirects=False).status_code == 303


def test_english_is_one_query_away_and_remembered(c1: Client, scenario: Scenario) -> None:
    page = c1.get(f"/portal/sites/{scenario.site_a}?lang=en")
    assert '<html lang="en">' in page.text
    assert "From base to final premium" in page.text
    assert "srk_lang=en" in page.headers["set-cookie"]
    again = c1.get("/portal")
    assert "My sites" in again.text
    assert c1.get("/portal?lang=xx").text.count("My sites") >= 1  # unknown: unchanged
    assert "我的工地" in c1.get("/portal?lang=zh").text


def test_another_contractors_site_and_unknown_sites_are_the_same_404(
    c1: Client, scenario: Scenario
) -> None:
    other = c1.get(f"/portal/sites/{scenario.site_c}")
    unknown = c1.get("/portal/sites/NO-SUCH-SITE")
    assert other.status_code == unknown.status_code == 404
    assert other.headers["content-type"].startswith("text/html")
    assert other.text.replace(scenario.site_c, "X") == unknown.text.replace("NO-SUCH-SITE", "X")
    assert scenario.quotes["c"]["quote_id"] not in other.text


# --- the share endpoint ------------------------------------------------------------------


def _share(client: Client, scenario: Scenario, who: str, quote: str, body: Any = None) -> Any:
    quote_id = scenario.quotes[quote]["quote_id"] if quote in scenario.quotes else quote
    kwargs: dict[str, Any] = {"headers": scenario.bearer(who)} if who else {}
    if body is not None:
        kwargs["json"] = body
    return client.post(f"/v1/quotes/{quote_id}/share", **kwargs)


def test_the_owner_shares_a_quote_for_a_week_by_default(
    portal_client: Client, scenario: Scenario
) -> None:
    before = datetime.now(UTC)
    answer = _share(portal_client, scenario, "ins_a", "a")
    assert answer.status_code == 201, answer.text
    link = answer.json()
    assert link["quote_id"] == scenario.quotes["a"]["quote_id"]
    assert link["site_id"] == scenario.site_a
    assert link["url"].endswith(link["path"])
    expires = datetime.fromisoformat(link["expires_at"])
    assert before + timedelta(days=7) - timedelta(seconds=5) <= expires
    assert expires <= datetime.now(UTC) + timedelta(days=7)
    portal_client.cookies.clear()
    page = portal_client.get(link["path"])
    assert page.status_code == 200
    assert "保险公司分享的链接" in page.text
    short = _share(portal_client, scenario, "ins_a", "a", {"expires_in_days": 1}).json()
    assert datetime.fromisoformat(short["expires_at"]) <= datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize(
    ("who", "quote", "status"),
    [
        ("ins_b", "a", 404),  # another insurer's quote: not found, never forbidden
        ("ins_a", "c", 404),
        ("ins_a", "00000000-0000-0000-0000-000000000000", 404),
        ("c1", "a", 403),  # contractors read, they do not share
        ("", "a", 401),
    ],
)
def test_only_the_owner_can_share_a_quote(
    portal_client: Client, scenario: Scenario, who: str, quote: str, status: int
) -> None:
    answer = _share(portal_client, scenario, who, quote)
    assert answer.status_code == status
    assert answer.json()["error"]["status"] == status


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 31}, "expires_in_days"),  # above portal_share_max_days (30)
        ({"expires_in_days": "7"}, "expires_in_days"),
        ({"days": 7}, "days"),
    ],
)
def test_a_bad_share_request_names_the_field(
    portal_client: Client, scenario: Scenario, body: dict[str, Any], field: str
) -> None:
    answer = _share(portal_client, scenario, "ins_a", "a", body)
    assert answer.status_code == 422, answer.text
    fields = [f["field"] for f in answer.json()["error"]["fields"]]
    assert any(field in name for name in fields), fields


def test_the_portal_is_not_in_the_api_document_but_sharing_is(portal_client: Client) -> None:
    paths = portal_client.get("/schema/openapi.json").json()["paths"]
    assert "/v1/quotes/{quote_id}/share" in paths
    assert not [p for p in paths if p.startswith("/portal")]


def test_failures_are_pages_with_the_apis_status(
    c1: Client, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from service.portal import service

    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service.PortalService, "site", broken)
    page = c1.get(f"/portal/sites/{scenario.site_a}")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "boom" not in page.text  # the reference is shown, never the error
    assert re.search(r"参考编号 [0-9a-f]{12}", page.text)

    def database_down(*_: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(service.PortalService, "site", database_down)
    page = c1.get(f"/portal/sites/{scenario.site_a}?lang=en")
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert "Temporarily unavailable" in page.text


def test_revoking_the_key_that_shared_a_link_withdraws_that_link_only(
    portal_client: Client, scenario: Scenario, module_settings: Settings
) -> None:
    database = Database(module_settings.db_url)
    try:
        with database.session() as session:
            second = ApiKeyStore(session, PEPPER).create(
                KeySpec.parse("insurer", insurer_id="INS-A")
            )
    finally:
        database.dispose()
    quote_id = scenario.quotes["a"]["quote_id"]
    made = [
        portal_client.post(f"/v1/quotes/{quote_id}/share", headers=headers)
        for headers in ({"Authorization": f"Bearer {second.key}"}, scenario.bearer("ins_a"))
    ]
    assert [m.status_code for m in made] == [201, 201]
    by_second, by_first = (m.json()["path"] for m in made)
    portal_client.cookies.clear()
    assert portal_client.get(by_second).status_code == 200
    database = Database(module_settings.db_url)
    try:
        with database.session() as session:
            assert second.row.id is not None
            ApiKeyStore(session, PEPPER).revoke(second.row.id)
    finally:
        database.dispose()
    withdrawn = portal_client.get(by_second)
    assert withdrawn.status_code == 403
    assert "链接已撤回" in withdrawn.text
    assert 'data-testid="final-premium"' not in withdrawn.text
    assert portal_client.get(by_first).status_code == 200  # another key's link still opens
    english = portal_client.get(by_second + "?lang=en")
    assert english.status_code == 403
    assert "This link was withdrawn" in english.text
