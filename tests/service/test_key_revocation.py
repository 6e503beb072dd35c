"""Keys managed from the CLI and the admin API; a revoked or rotated key stops working on
the very next request although resolved keys are cached (SQLite marker file,
PostgreSQL LISTEN/NOTIFY), and a watcher that cannot tell turns the cache off."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar.testing import TestClient
from svc_helpers import PEPPER, bearer, make_settings
from typer.testing import CliRunner

from models.settings import Settings, get_settings
from service.app import create_app
from service.auth.resolver import KeyResolver
from service.auth.revocation import (
    MarkerFileChanges,
    PostgresKeyChanges,
    marker_path,
    watcher_for,
)
from service.auth.store import ApiKeyStore, KeySpec
from service.cli import app as cli
from service.db import migrate
from service.db.engine import Database

runner = CliRunner()


def _cli(*args: str) -> Any:
    return runner.invoke(cli, list(args))


def test_cli_revoke_and_rotate_take_effect_on_the_next_request(cli_stores: Path) -> None:
    settings = get_settings()
    assert settings.auth_cache_seconds > 0  # the default: resolved keys are cached
    revoked = _cli("keys", "create", "--role", "platform").stdout.strip()
    rotated = _cli("keys", "create", "--role", "insurer", "--insurer-id", "I-1").stdout.strip()
    with TestClient(create_app(settings)) as client:
        for key in (revoked, rotated):
            assert client.get("/v1/whoami", headers=bearer(key)).status_code == 200
        assert _cli("keys", "revoke", "1").exit_code == 0
        assert client.get("/v1/whoami", headers=bearer(revoked)).status_code == 401
        new = _cli("keys", "rotate", "2").stdout.strip()
        assert client.get("/v1/whoami", headers=bearer(rotated)).status_code == 401
        assert client.get("/v1/whoami", headers=bearer(new)).json()["insurer_id"] == "I-1"
        listed = _cli("keys", "list", "--json").stdout
    assert new.split("_", 2)[2] not in listed


def test_admins_manage_keys_through_the_api(settings: Settings, issue_key: Any) -> None:
    admin = issue_key("admin").key
    with TestClient(create_app(settings)) as client:
        made = client.post(
            "/v1/admin/keys",
            json={"role": "contractor", "contractor_id": "GC-9", "label": "site office"},
            headers=bearer(admin),
        )
        assert made.status_code == 201, made.text
        key, info = made.json()["key"], made.json()["info"]
        assert info["contractor_id"] == "GC-9"
        assert client.get("/v1/whoami", headers=bearer(key)).json()["role"] == "contractor"

        listed = client.get("/v1/admin/keys", headers=bearer(admin))
        assert [k["role"] for k in listed.json()] == ["admin", "contractor"]
        assert key.split("_", 2)[2] not in listed.text
        assert "key_hash" not in listed.text

        rotated = client.post(f"/v1/admin/keys/{info['id']}/rotate", headers=bearer(admin))
        assert rotated.status_code == 201
        assert rotated.json()["info"]["rotated_from_id"] == info["id"]
        assert client.get("/v1/whoami", headers=bearer(key)).status_code == 401
        new = rotated.json()["key"]
        assert client.get("/v1/whoami", headers=bearer(new)).status_code == 200
        new_id = rotated.json()["info"]["id"]
        revoked = client.post(f"/v1/admin/keys/{new_id}/revoke", headers=bearer(admin))
        assert revoked.json()["revoked_at"] is not None
        assert client.get("/v1/whoami", headers=bearer(new)).status_code == 401
        active = client.get("/v1/admin/keys?active=true", headers=bearer(admin)).json()
        assert [k["role"] for k in active] == ["admin"]

        bad = client.post("/v1/admin/keys", json={"role": "insurer"}, headers=bearer(admin)).json()[
            "error"
        ]
        assert bad["fields"][0]["field"] == "insurer_id"
        missing = client.post("/v1/admin/keys/999/revoke", headers=bearer(admin))
        assert missing.status_code == 404
        rules = client.get("/v1/admin/rules", headers=bearer(admin)).json()
        assert set(rules) == {"tariff", "band", "incentives"}
        assert all(r["in_use"] in r["available"] for r in rules.values())


def test_the_marker_file_changes_on_every_revocation(settings: Settings, issue_key: Any) -> None:
    path = marker_path(settings.db_url)
    assert path is not None
    assert path.parent == Path(settings.db_url.removeprefix("sqlite:///")).parent
    watcher = watcher_for(settings.db_url)
    assert isinstance(watcher, MarkerFileChanges)
    seen = {watcher.generation()}
    database = Database(settings.db_url)
    for _ in range(3):
        issued = issue_key("platform")
        with database.session() as session:
            ApiKeyStore(session, PEPPER).revoke(issued.row.id or 0)
        seen.add(watcher.generation())
    database.dispose()
    assert len(seen) == 4
    assert watcher_for("sqlite://") is None  # in memory: one process, no marker


class _Blind:
    """A watcher that cannot tell."""

    def generation(self) -> None:
        return None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def test_a_watcher_that_cannot_tell_turns_the_cache_off(
    settings: Settings, issue_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = issue_key("admin")
    database = Database(settings.db_url)
    resolver = KeyResolver(database, PEPPER, ttl=1.0, changes=_Blind())
    loads: list[str] = []
    original = resolver._load

    def counting(prefix: str, at: float, generation: Any) -> Any:
        loads.append(prefix)
        return original(prefix, at, generation)

    monkeypatch.setattr(resolver, "_load", counting)

    async def run() -> None:
        for _ in range(3):
            assert await resolver.resolve(issued.key) is not None

    anyio.run(run)
    database.dispose()
    assert len(loads) == 3


@pytest.fixture
def pg_settings(pg_database: str, tmp_path: Path) -> Settings:
    migrate.upgrade(pg_database)
    return make_settings(tmp_path, database_url=pg_database)


def _wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_postgres_revocations_arrive_by_notify(pg_settings: Settings) -> None:
    watcher = PostgresKeyChanges(pg_settings.db_url, retry_seconds=0.1)
    assert watcher.generation() is None  # not listening yet: do not trust a cache
    watcher.start()
    database = Database(pg_settings.db_url)
    try:
        _wait_for(lambda: watcher.generation() is not None)
        before = watcher.generation()
        with database.session() as session:
            store = ApiKeyStore(session, PEPPER)
            issued = store.create(KeySpec.parse("platform"))
            assert watcher.generation() == before  # creating a key revokes nothing
            store.revoke(issued.row.id or 0)
        _wait_for(lambda: watcher.generation() != before, seconds=2.0)
    finally:
        watcher.stop()
        database.dispose()
    assert watcher.generation() is None


def test_postgres_revocation_is_immediate_in_a_running_app(pg_settings: Settings) -> None:
    database = Database(pg_settings.db_url)
    with database.session() as session:
        issued = ApiKeyStore(session, PEPPER).create(KeySpec.parse("platform"))
    app = create_app(pg_settings)
    with TestClient(app) as client:
        resolver = app.state["siterisk"].resolver
        _wait_for(lambda: resolver._changes.generation() is not None)
        for _ in range(2):  # the second answer comes from the cache
            assert client.get("/v1/whoami", headers=bearer(issued.key)).status_code == 200
        with database.session() as session:
            ApiKeyStore(session, PEPPER).revoke(issued.row.id or 0)
        # NOTIFY arrives within milliseconds of the commit.
        deadline = time.monotonic() + 0.5
        while client.get("/v1/whoami", headers=bearer(issued.key)).status_code == 200:
            assert time.monotonic() < deadline
    database.dispose()
