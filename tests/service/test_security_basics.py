"""Security basics: secrets from the environment only, nothing sensitive in the logs,
keys compared in constant time, CORS closed by default, security headers on every
HTML page."""

from __future__ import annotations

import io
import logging
import logging.config
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from litestar import get
from litestar.testing import TestClient
from svc_helpers import PEPPER, bearer, make_settings
from typer.testing import CliRunner

from models.settings import DEV_KEY_PEPPER, Settings, get_settings
from service.app import create_app
from service.auth import keys as key_module
from service.auth.resolver import KeyResolver
from service.auth.store import ApiKeyStore
from service.cli import app as cli
from service.db.engine import Database
from service.logs import LOG_CONFIG, MASK, redact
from service.portal.access import SHARE_PATH
from service.portal.tokens import PortalSigner

runner = CliRunner()


# --- secrets come from the environment ------------------------------------------------


def test_the_pepper_comes_from_the_environment_and_never_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SITERISK_KEY_PEPPER", "pepper-from-the-environment")
    settings = Settings()
    assert settings.key_pepper.get_secret_value() == "pepper-from-the-environment"
    assert "pepper-from-the-environment" not in repr(settings)
    assert "pepper-from-the-environment" not in str(settings.model_dump())


@pytest.mark.parametrize("command", [["serve"], ["keys", "create", "--role", "admin"]])
def test_outside_development_the_public_pepper_is_refused(
    cli_stores: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    monkeypatch.setenv("SITERISK_ENV", "production")
    monkeypatch.delenv("SITERISK_KEY_PEPPER")
    get_settings.cache_clear()
    refused = runner.invoke(cli, command)
    assert refused.exit_code == 2
    assert "SITERISK_KEY_PEPPER" in refused.stderr
    assert refused.stdout == ""  # no key was made
    monkeypatch.setenv("SITERISK_KEY_PEPPER", "a-long-random-secret")
    get_settings.cache_clear()
    assert runner.invoke(cli, command).exit_code == 0


def test_readiness_and_logs_never_show_database_credentials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql://siterisk:s3cret-db-password@127.0.0.1:1/siterisk"
    settings = make_settings(tmp_path, database_url=url)
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
        refused = client.get("/v1/whoami", headers=bearer("srk_0123456789ab_" + "x" * 43))
    assert ready.status_code == 503
    assert refused.status_code == 503  # the key cannot be checked: unavailable, not 401
    for text in (ready.text, refused.text, caplog.text):
        assert "s3cret-db-password" not in text


# --- nothing sensitive in the logs -----------------------------------------------------


@get("/v1/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("a bug")


def _everything(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter()
    return "\n".join(formatter.format(r) + (r.exc_text or "") + str(r.__dict__) for r in records)


def test_the_service_logs_no_key_header_or_secret(
    settings: Settings, issue_key: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    admin = issue_key("admin")
    revoked = issue_key("platform")
    wrong = admin.key[:-6] + ("AAAAAA" if not admin.key.endswith("AAAAAA") else "BBBBBB")
    caplog.set_level(logging.DEBUG)
    app = create_app(settings, route_handlers=[boom])
    with TestClient(app) as client:
        assert client.get("/v1/whoami", headers=bearer(admin.key)).status_code == 200
        assert client.get("/v1/whoami", headers=bearer(wrong)).status_code == 401
        assert client.get("/v1/whoami", headers={"Authorization": "Basic dTpw"}).status_code == 401
        made = client.post(
            "/v1/admin/keys",
            json={"role": "insurer", "insurer_id": "I1"},
            headers=bearer(admin.key),
        )
        new_key = made.json()["key"]
        client.post(f"/v1/admin/keys/{revoked.row.id}/revoke", headers=bearer(admin.key))
        assert client.get("/v1/whoami", headers=bearer(revoked.key)).status_code == 401
        assert client.get("/v1/boom", headers=bearer(admin.key)).status_code == 500
    # The database goes away under a running app: errors are logged, secrets are not.
    for path in settings.home.glob("siterisk.db*"):
        path.unlink()
    (settings.home / "siterisk.db").mkdir()
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/whoami", headers=bearer(admin.key)).status_code == 503
    logged = _everything(caplog.records)
    assert "a bug" in logged  # the records were captured
    for key in (admin.key, wrong, revoked.key, new_key):
        assert key not in logged
        assert key.split("_", 2)[2] not in logged
    assert "dTpw" not in logged
    assert PEPPER not in logged


def test_the_redaction_filter_masks_what_libraries_might_log() -> None:
    key = "srk_0123456789ab_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"
    lines = {
        f"Authorization: Bearer {key}": key,
        f"headers={{'authorization': 'Bearer {key}'}}": key,
        "headers={'Authorization': 'Basic dXNlcjpzZWNyZXQ='}": "dXNlcjpzZWNyZXQ=",
        '127.0.0.1:5000 - "GET /portal/sites/S1?token=eyJhbGciOi.sig-part HTTP/1.1" 200': "eyJ",
        "GET /x?lang=zh&sig=abcdef0123&next=/": "abcdef0123",
        "postgresql+psycopg://siterisk:pa55word@db:5432/siterisk": "pa55word",
        f"ValueError: bad key {key}": key.split("_", 2)[2],
    }
    for line, secret in lines.items():
        clean = redact(line)
        assert secret not in clean, clean
        assert MASK in clean
    assert redact("GET /v1/quotes?limit=50 200") == "GET /v1/quotes?limit=50 200"
    assert redact(f"key {key}").startswith("key srk_0123456789ab_")  # the prefix helps support


def test_redaction_ignores_case_and_letters_outside_ascii() -> None:
    """Patterns are skipped for lines that lack their words: in any case, and also when a
    letter outside ASCII matches an ASCII one (the dotted capital I is an i to a
    case-blind pattern, not to ``lower()``)."""
    lines = {
        "AUTHORIZATION: basic dXNlcjpzZWNyZXQ=": "dXNlcjpzZWNyZXQ=",
        "auth header: BeArEr abc.def": "abc.def",
        "AUTHOR\u0130ZATION: dXNlcjpzZWNyZXQ=": "dXNlcjpzZWNyZXQ=",
        "GET /PORTAL%2fS%2fs3cr3t-t0k3n 200": "s3cr3t-t0k3n",
        "GET /x?TOKEN=s3cr3t 200": "s3cr3t",
        "客户 postgresql://u:pa55word@db/x": "pa55word",
    }
    for line, secret in lines.items():
        clean = redact(line)
        assert secret not in clean, clean
        assert MASK in clean
    access = '127.0.0.1:5000 - "POST /v1/quotes HTTP/1.1" 201'
    assert redact(access) == access


def test_share_link_tokens_in_paths_are_masked_and_the_route_stays() -> None:
    expires = datetime.now(UTC) + timedelta(days=7)
    token = PortalSigner("s" * 32).share("q-1", "SITE-1", expires, 7)
    path = SHARE_PATH + token
    lines = {
        f'- "GET {path} HTTP/1.1" 200': f'- "GET {SHARE_PATH}{MASK} HTTP/1.1" 200',
        f"GET {path}?lang=en 200": f"GET {SHARE_PATH}{MASK}?lang=en 200",
        f"GET {path}/extra 404": f"GET {SHARE_PATH}{MASK}/extra 404",
        f"GET {SHARE_PATH}{token[:20]} 404": f"GET {SHARE_PATH}{MASK} 404",  # a part, too
        f"GET /portal/login?next={quote(path, safe='')}&lang=en 200": (
            f"GET /portal/login?next=%2Fportal%2Fs%2F{MASK}&lang=en 200"
        ),
        f"http://testserver{path}": f"http://testserver{SHARE_PATH}{MASK}",
    }
    for line, expected in lines.items():
        assert redact(line) == expected
        assert redact(expected) == expected
    for untouched in ("GET /portal/sites/S1 200", f"GET {SHARE_PATH} 404", "GET /portal 200"):
        assert redact(untouched) == untouched


def test_served_logs_pass_through_the_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    config = {**LOG_CONFIG, "handlers": {**LOG_CONFIG["handlers"]}}
    config["handlers"]["stderr"] = {**config["handlers"]["stderr"], "stream": stream}
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logging.config.dictConfig(config)
        key = "srk_0123456789ab_" + "s" * 43
        logging.getLogger("uvicorn.access").info('"GET /portal?token=%s HTTP/1.1" 200', "t0k3n")
        try:
            raise ValueError(f"cannot use {key}")
        except ValueError:
            logging.getLogger("service").exception("failed")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    written = stream.getvalue()
    assert "t0k3n" not in written
    assert "s" * 43 not in written
    assert "failed" in written
    assert "Traceback" in written


# --- keys compared in constant time ----------------------------------------------------


def test_every_key_check_is_one_constant_time_comparison(
    settings: Settings, issue_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = issue_key("admin").key
    calls: list[tuple[str, str]] = []
    real = key_module.hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(key_module.hmac, "compare_digest", counting)
    database = Database(settings.db_url)
    resolver = KeyResolver(database, PEPPER, ttl=1.0)
    presented = [
        key,  # valid, from the database
        key,  # valid, from the cache
        key[:-4] + "AAAA",  # the right prefix, a wrong secret
        "srk_ffffffffffff_" + "x" * 43,  # a prefix no key has
        "not-a-key-at-all",  # malformed: the same work is still done
    ]

    async def run() -> list[bool]:
        return [await resolver.resolve(k) is not None for k in presented]

    accepted = anyio.run(run)
    database.dispose()
    assert accepted == [True, True, False, False, False]
    assert len(calls) == len(presented)
    assert all(len(a) == len(b) == 64 for a, b in calls)  # HMAC digests, never raw keys


def test_a_store_lookup_never_compares_keys_in_sql(settings: Settings, issue_key: Any) -> None:
    """Rows are found by the public prefix; the secret is only ever compared as an HMAC."""
    issued = issue_key("admin")
    database = Database(settings.db_url)
    with database.session() as session:
        row = ApiKeyStore(session, PEPPER).by_prefix(issued.row.prefix)
    database.dispose()
    assert row is not None
    assert key_module.key_matches(issued.key, row.key_hash, PEPPER)
    assert not key_module.key_matches(issued.key, row.key_hash, DEV_KEY_PEPPER)


# --- CORS and headers -----------------------------------------------------------------


def test_cors_is_closed_by_default(settings: Settings, issue_key: Any) -> None:
    assert Settings().cors_origins == []
    key = issue_key("admin").key
    origin = {"Origin": "https://evil.example"}
    with TestClient(create_app(settings)) as client:
        preflight = client.options(
            "/v1/quotes",
            headers={**origin, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, idempotency-key"},
        )  # fmt: skip
        simple = client.get("/v1/whoami", headers={**origin, **bearer(key)})
    assert simple.status_code == 200
    for response in (preflight, simple):
        assert not [h for h in response.headers if h.startswith("access-control-")]


def test_every_html_page_carries_the_security_headers(settings: Settings) -> None:
    app = create_app(settings)
    paths = sorted(
        {
            route.path
            for route in app.routes
            if "{" not in route.path and "GET" in getattr(route, "methods", ())
        }
    )
    html = []
    with TestClient(app) as client:
        for path in paths:
            response = client.get(path, follow_redirects=False)
            if response.headers.get("content-type", "").startswith("text/html"):
                html.append((path, response))
    assert "/schema" in [p for p, _ in html]  # the docs page at least
    for path, response in html:
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, path
        assert "default-src 'none'" in csp, path
        scripts = csp.split("script-src")[1].split(";")[0] if "script-src" in csp else ""
        assert "unsafe-inline" not in scripts, path  # no script-src: default-src 'none'
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
