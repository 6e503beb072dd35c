"""Who gets into the agreement pages (service/portal/agreement_access.py): owner and
contractor keys sign in, other keys and bad keys are refused with the reason, a revoked
key's session ends at once, a forged cookie is nobody, and sign-in never sends the
browser elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from portal_helpers import portal_settings

from models.settings import Settings
from service.app import create_app
from service.auth.store import ApiKeyStore, IssuedKey, KeySpec
from service.db.engine import Database
from service.portal.agreement_access import AGREEMENT_COOKIE


@pytest.fixture
def app_settings(tmp_path: Path, migrated_db: Path) -> Settings:
    return portal_settings(tmp_path / "home", migrated_db)


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


def _issue(settings: Settings, role: str, **kwargs: Any) -> IssuedKey:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            store = ApiKeyStore(session, settings.key_pepper.get_secret_value())
            return store.create(KeySpec.parse(role, **kwargs))
    finally:
        database.dispose()


def _sign_in(client: TestClient[Litestar], key: str, target: str = "/portal/agreements") -> Any:
    client.get("/portal/agreements/login")
    form = {"api_key": key, "csrf": client.cookies.get("srk_csrf") or "", "next": target}
    return client.post("/portal/agreements/login", data=form, follow_redirects=False)


def test_an_owner_signs_in_and_a_revoked_key_is_signed_out_at_once(
    client: TestClient[Litestar], app_settings: Settings
) -> None:
    owner = _issue(app_settings, "owner", owner_id="OWN-1")
    signed = _sign_in(client, owner.key)
    assert (signed.status_code, signed.headers["location"]) == (303, "/portal/agreements")
    page = client.get("/portal/agreements")
    assert page.status_code == 200
    assert "OWN-1" in page.text
    database = Database(app_settings.db_url)
    try:
        with database.session() as session:
            assert owner.row.id is not None
            ApiKeyStore(session, "").revoke(owner.row.id)
    finally:
        database.dispose()
    gone = client.get("/portal/agreements", follow_redirects=False)
    assert gone.status_code in (302, 303)
    assert gone.headers["location"].startswith("/portal/agreements/login")


@pytest.mark.parametrize(
    ("role", "kwargs", "status", "words"),
    [
        ("insurer", {"insurer_id": "INS-1"}, 403, "仅业主密钥和承包商密钥"),
        ("admin", {}, 403, "仅业主密钥和承包商密钥"),
        (None, {}, 401, "密钥无效"),
    ],
)
def test_other_keys_are_refused_with_the_reason(
    client: TestClient[Litestar],
    app_settings: Settings,
    role: str | None,
    kwargs: dict[str, Any],
    status: int,
    words: str,
) -> None:
    key = _issue(app_settings, role, **kwargs).key if role else "srk_000000000000_" + "x" * 43
    refused = _sign_in(client, key)
    assert refused.status_code == status
    assert words in refused.text
    assert AGREEMENT_COOKIE not in refused.cookies


def test_a_form_without_its_token_or_a_foreign_target_goes_nowhere(
    client: TestClient[Litestar], app_settings: Settings
) -> None:
    owner = _issue(app_settings, "owner", owner_id="OWN-2")
    client.get("/portal/agreements/login")
    no_token = client.post(
        "/portal/agreements/login", data={"api_key": owner.key}, follow_redirects=False
    )
    assert no_token.status_code == 400
    for target in ("https://evil.example/", "//evil.example", "/portal/agreements/../../x"):
        signed = _sign_in(client, owner.key, target)
        assert signed.headers["location"] == "/portal/agreements", target


def test_a_forged_cookie_is_nobody(client: TestClient[Litestar]) -> None:
    client.cookies.set(AGREEMENT_COOKIE, "eyJrIjoxfQ.forged", path="/portal/agreements")
    answer = client.get("/portal/agreements", follow_redirects=False)
    assert answer.headers["location"].startswith("/portal/agreements/login")
