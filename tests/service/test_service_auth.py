"""API keys: format, hashing, resolution, revocation, roles."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import anyio
import pytest
from litestar import get
from litestar.di import NamedDependency
from litestar.testing import TestClient
from pydantic import SecretStr
from sqlmodel import select
from svc_helpers import PEPPER, bearer

from models.contract.spec import DISTRICTS
from models.settings import Settings
from service.app import create_app
from service.auth.guards import requires
from service.auth.keys import key_prefix, new_key
from service.auth.principal import Principal, Role
from service.auth.resolver import KeyResolver
from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.db.tables import ApiKey
from service.errors import ConflictError, InvalidInputError


@get("/v1/admin-only", guards=[requires(Role.admin)], sync_to_thread=False)
def admin_only(principal: NamedDependency[Principal]) -> dict[str, int]:
    return {"key_id": principal.key_id}


@get(
    "/v1/insurers-and-regulators",
    guards=[requires(Role.insurer, Role.regulator)],
    sync_to_thread=False,
)
def insurers_and_regulators() -> dict[str, bool]:
    return {"ok": True}


def _revoke(settings: Settings, key_id: int) -> None:
    database = Database(settings.db_url)
    with database.session() as session:
        ApiKeyStore(session, PEPPER).revoke(key_id)
    database.dispose()


def test_key_format_and_parsing() -> None:
    key, prefix = new_key()
    assert key.startswith(f"srk_{prefix}_")
    assert key_prefix(key) == prefix
    assert len({new_key()[0] for _ in range(50)}) == 50
    for bad in [
        "",
        "srk_",
        f"srk_{prefix}",
        f"xyz_{prefix}_{'a' * 43}",
        f"srk_{prefix}_short",
        key + " ",
    ]:
        assert key_prefix(bad) is None


def test_missing_or_malformed_authorization_is_401_with_a_bearer_challenge(
    settings: Settings,
) -> None:
    with TestClient(create_app(settings)) as client:
        for headers in [{}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"}]:
            response = client.get("/v1/whoami", headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthorized"
        response = client.get("/v1/whoami", headers=bearer("srk_nothing_like_a_key"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_valid_key_resolves_to_its_principal(settings: Settings, issue_key: Any) -> None:
    insurer = issue_key("insurer", insurer_id="PICC-SH", label="renewals")
    regulator = issue_key("regulator", districts=["xuhui", "pudong"])
    with TestClient(create_app(settings)) as client:
        me = client.get("/v1/whoami", headers=bearer(insurer.key)).json()
        reg = client.get("/v1/whoami", headers=bearer(regulator.key)).json()
    assert me == {
        "key_id": insurer.row.id,
        "role": "insurer",
        "insurer_id": "PICC-SH",
        "contractor_id": None,
        "districts": [],
        "owner_id": None,
        "label": "renewals",
    }
    assert reg["role"] == "regulator"
    assert reg["districts"] == ["xuhui", "pudong"]  # in the contract's district order


def test_a_wrong_secret_is_refused_even_when_the_prefix_is_cached(
    settings: Settings, issue_key: Any
) -> None:
    key = issue_key("admin").key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/whoami", headers=bearer(key)).status_code == 200
        assert client.get("/v1/whoami", headers=bearer(forged)).status_code == 401


def test_keys_are_stored_as_peppered_hashes_only(settings: Settings, issue_key: Any) -> None:
    issued = issue_key("contractor", contractor_id="C-1")
    database = Database(settings.db_url)
    with database.session() as session:
        row = session.exec(select(ApiKey)).one()
    database.dispose()
    secret = issued.key.split("_", 2)[2]  # the secret itself may contain "_"
    assert (
        row.key_hash == hmac.new(PEPPER.encode(), issued.key.encode(), hashlib.sha256).hexdigest()
    )
    assert row.key_hash != hashlib.sha256(issued.key.encode()).hexdigest()
    stored = " ".join(str(v) for v in row.model_dump().values())
    assert secret not in stored
    raw = b"".join(p.read_bytes() for p in settings.home.glob("siterisk.db*"))
    assert secret.encode() not in raw


def test_another_pepper_makes_every_key_invalid(settings: Settings, issue_key: Any) -> None:
    key = issue_key("admin").key
    other = settings.model_copy(update={"key_pepper": SecretStr("a-different-pepper")})
    with TestClient(create_app(other)) as client:
        assert client.get("/v1/whoami", headers=bearer(key)).status_code == 401


def test_revocation_is_immediate_without_the_cache(settings: Settings, issue_key: Any) -> None:
    issued = issue_key("platform")
    no_cache = settings.model_copy(update={"auth_cache_seconds": 0.0})
    with TestClient(create_app(no_cache)) as client:
        assert client.get("/v1/whoami", headers=bearer(issued.key)).status_code == 200
        _revoke(settings, issued.row.id)
        response = client.get("/v1/whoami", headers=bearer(issued.key))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the API key is not valid or was revoked"


def test_revocation_is_immediate_with_the_cache_on(settings: Settings, issue_key: Any) -> None:
    issued = issue_key("platform")
    assert settings.auth_cache_seconds > 0
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/whoami", headers=bearer(issued.key)).status_code == 200
        _revoke(settings, issued.row.id)  # through another engine, as the CLI would
        assert client.get("/v1/whoami", headers=bearer(issued.key)).status_code == 401


def test_without_a_watcher_revocation_takes_at_most_the_cache_time(
    settings: Settings, issue_key: Any
) -> None:
    issued = issue_key("platform")
    database = Database(settings.db_url)
    resolver = KeyResolver(database, PEPPER, ttl=settings.auth_cache_seconds, changes=False)

    async def run() -> None:
        assert await resolver.resolve(issued.key) is not None
        _revoke(settings, issued.row.id)
        revoked_at = time.monotonic()
        while await resolver.resolve(issued.key) is not None:
            assert time.monotonic() - revoked_at < settings.auth_cache_seconds + 0.5
            await anyio.sleep(0.05)

    anyio.run(run)
    database.dispose()


def test_rotation_replaces_the_key(settings: Settings, issue_key: Any) -> None:
    old = issue_key("insurer", insurer_id="I-9")
    database = Database(settings.db_url)
    with database.session() as session:
        new = ApiKeyStore(session, PEPPER).rotate(old.row.id)
        with pytest.raises(ConflictError, match="is revoked"):
            ApiKeyStore(session, PEPPER).rotate(old.row.id)
    database.dispose()
    assert new.row.rotated_from_id == old.row.id
    no_cache = settings.model_copy(update={"auth_cache_seconds": 0.0})
    with TestClient(create_app(no_cache)) as client:
        assert client.get("/v1/whoami", headers=bearer(old.key)).status_code == 401
        me = client.get("/v1/whoami", headers=bearer(new.key)).json()
    assert (me["role"], me["insurer_id"], me["key_id"]) == ("insurer", "I-9", new.row.id)


def test_roles_are_enforced_with_403(settings: Settings, issue_key: Any) -> None:
    keys = {
        "admin": issue_key("admin").key,
        "insurer": issue_key("insurer", insurer_id="I1").key,
        "contractor": issue_key("contractor", contractor_id="C1").key,
        "regulator": issue_key("regulator", districts=["all"]).key,
    }
    app = create_app(settings, route_handlers=[admin_only, insurers_and_regulators])
    with TestClient(app) as client:
        assert client.get("/v1/admin-only", headers=bearer(keys["admin"])).status_code == 200
        for role in ("insurer", "contractor", "regulator"):
            response = client.get("/v1/admin-only", headers=bearer(keys[role]))
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "forbidden"
        assert client.get("/v1/admin-only").status_code == 401
        allowed = {
            role: client.get("/v1/insurers-and-regulators", headers=bearer(key)).status_code
            for role, key in keys.items()
        }
    assert allowed == {"admin": 403, "insurer": 200, "contractor": 403, "regulator": 200}


@pytest.mark.parametrize(
    ("role", "kwargs", "field"),
    [
        ("insurer", {}, "insurer_id"),
        ("contractor", {}, "contractor_id"),
        ("contractor", {"contractor_id": "C1", "insurer_id": "I1"}, "insurer_id"),
        ("insurer", {"insurer_id": "has space"}, "insurer_id"),
        ("regulator", {}, "districts"),
        ("regulator", {"districts": ["xuhui", "atlantis"]}, "districts"),
        ("admin", {"districts": ["xuhui"]}, "districts"),
        ("boss", {}, "role"),
    ],
)
def test_key_descriptions_are_validated(role: str, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        KeySpec.parse(role, **kwargs)
    assert field in [f.field for f in info.value.fields]


def test_all_districts_expands_to_the_contract_list() -> None:
    spec = KeySpec.parse("regulator", districts=["ALL"])
    assert spec.districts == tuple(DISTRICTS)
    assert KeySpec.parse("regulator", districts=["pudong", "huangpu"]).districts == (
        "huangpu",
        "pudong",
    )


def test_the_resolver_asks_the_database_once_per_ttl(
    settings: Settings, issue_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = issue_key("admin")
    now = [100.0]
    database = Database(settings.db_url)
    resolver = KeyResolver(database, PEPPER, ttl=1.0, clock=lambda: now[0])
    loads: list[str] = []
    original = resolver._load

    def counting(prefix: str, at: float, generation: Any) -> Any:
        loads.append(prefix)
        return original(prefix, at, generation)

    monkeypatch.setattr(resolver, "_load", counting)

    async def run() -> list[Principal | None]:
        results = [await resolver.resolve(issued.key) for _ in range(3)]
        now[0] += 1.01
        results.append(await resolver.resolve(issued.key))
        return results

    results = anyio.run(run)
    database.dispose()
    assert all(r is not None and r.role is Role.admin for r in results)
    assert len(loads) == 2
