"""``siterisk keys``, ``siterisk db`` and ``siterisk serve`` (without a server)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import select
from svc_helpers import bearer
from typer.testing import CliRunner

from models.settings import get_settings
from service.app import create_app
from service.cli import app as cli
from service.db import migrate
from service.db.engine import Database
from service.db.tables import ApiKey

KEY_LINE = re.compile(r"srk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n")
runner = CliRunner()


def _run(*args: str) -> Any:
    return runner.invoke(cli, list(args))


def _no_cache_app() -> Any:
    settings = get_settings().model_copy(update={"auth_cache_seconds": 0.0})
    return create_app(settings)


def test_create_prints_only_the_key_and_stores_only_a_hash(cli_env: Path) -> None:
    result = _run("keys", "create", "--role", "insurer", "--insurer-id", "I-7", "--label", "ops")
    assert result.exit_code == 0, result.output
    assert KEY_LINE.fullmatch(result.stdout)
    key = result.stdout.strip()
    assert key not in result.stderr
    assert (cli_env / "siterisk.db").exists()  # the embedded database was created and migrated
    database = Database(get_settings().db_url)
    with database.session() as session:
        (row,) = session.exec(select(ApiKey)).all()
    database.dispose()
    assert key.split("_")[1] == row.prefix
    assert key not in row.model_dump_json()
    with TestClient(create_app()) as client:
        me = client.get("/v1/whoami", headers=bearer(key)).json()
    assert (me["role"], me["insurer_id"], me["label"]) == ("insurer", "I-7", "ops")


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "insurer"],
        ["--role", "contractor"],
        ["--role", "regulator"],
        ["--role", "regulator", "--district", "gotham"],
        ["--role", "admin", "--insurer-id", "I1"],
        ["--role", "emperor"],
    ],
)
def test_invalid_key_descriptions_are_refused(cli_env: Path, args: list[str]) -> None:
    result = _run("keys", "create", *args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_regulator_districts_are_checked_against_the_contract(cli_env: Path) -> None:
    result = _run("keys", "create", "--role", "regulator", "--district", "gotham")
    assert "gotham" in result.stderr
    ok = _run("keys", "create", "--role", "regulator", "--district", "jingan", "--district", "all")
    assert ok.exit_code == 0
    assert KEY_LINE.fullmatch(ok.stdout)


def test_list_shows_keys_but_never_secrets_or_hashes(cli_env: Path) -> None:
    keys = [
        _run("keys", "create", "--role", "admin").stdout.strip(),
        _run("keys", "create", "--role", "contractor", "--contractor-id", "C-3").stdout.strip(),
    ]
    assert _run("keys", "revoke", "1").exit_code == 0
    listed = _run("keys", "list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["role"], r["revoked_at"] is not None) for r in rows] == [
        (1, "admin", True),
        (2, "contractor", False),
    ]
    assert all("key_hash" not in r for r in rows)
    active = json.loads(_run("keys", "list", "--json", "--active").stdout)
    assert [r["id"] for r in active] == [2]
    table = _run("keys", "list")
    assert table.exit_code == 0
    assert "contractor" in table.stdout
    assert "C-3" in table.stdout
    for key in keys:
        secret = key.split("_", 2)[2]  # the secret itself may contain "_"
        assert secret not in listed.stdout
        assert secret not in table.stdout


def test_list_never_cuts_the_key_prefix_at_80_columns(cli_env: Path) -> None:
    key = _run(
        "keys",
        "create",
        "--role",
        "contractor",
        "--contractor-id",
        "C-" + "9" * 40,
        "--label",
        "a rather long label for the site office at the north gate",
    ).stdout.strip()
    prefix = key.split("_")[1]
    table = runner.invoke(cli, ["keys", "list"], env={"COLUMNS": "80"})
    assert table.exit_code == 0
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert prefix in table.stdout
    assert "…" not in table.stdout


def test_revoke_takes_effect_on_the_next_request(cli_env: Path) -> None:
    key = _run("keys", "create", "--role", "platform").stdout.strip()
    with TestClient(_no_cache_app()) as client:
        assert client.get("/v1/whoami", headers=bearer(key)).status_code == 200
        result = _run("keys", "revoke", "1")
        assert result.exit_code == 0
        assert result.stdout == ""
        assert client.get("/v1/whoami", headers=bearer(key)).status_code == 401
    assert _run("keys", "revoke", "1").exit_code == 0  # again: nothing changes
    missing = _run("keys", "revoke", "42")
    assert missing.exit_code == 1
    assert "42" in missing.stderr


def test_rotate_prints_a_new_key_and_revokes_the_old(cli_env: Path) -> None:
    old = _run("keys", "create", "--role", "insurer", "--insurer-id", "I-1").stdout.strip()
    result = _run("keys", "rotate", "1")
    assert result.exit_code == 0
    assert KEY_LINE.fullmatch(result.stdout)
    new = result.stdout.strip()
    assert new != old
    with TestClient(_no_cache_app()) as client:
        assert client.get("/v1/whoami", headers=bearer(old)).status_code == 401
        me = client.get("/v1/whoami", headers=bearer(new)).json()
    assert (me["key_id"], me["insurer_id"]) == (2, "I-1")
    assert _run("keys", "rotate", "1").exit_code == 1  # a revoked key cannot be rotated


def test_db_upgrade_and_current(cli_env: Path) -> None:
    before = _run("db", "current")
    assert "database: empty" in before.stdout
    assert _run("db", "upgrade").exit_code == 0
    assert migrate.current(get_settings().db_url) == migrate.head()
    assert f"database: {migrate.head()}" in _run("db", "current").stdout


def test_keys_list_on_an_unmigrated_server_database_says_what_to_do(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Any URL that is not the embedded default is never migrated implicitly.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'server.db'}")
    get_settings.cache_clear()
    result = _run("keys", "list")
    assert result.exit_code == 1
    assert "siterisk db upgrade" in result.stderr


def test_serve_migrates_the_embedded_database_and_runs_the_factory(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    result = _run("serve", "--port", "8123", "--workers", "2")
    assert result.exit_code == 0, result.output
    ((args, kwargs),) = calls
    assert args == ("service.asgi:app",)
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 8123, 2)
    assert migrate.current(get_settings().db_url) == migrate.head()


def test_the_asgi_factory_builds_an_app_from_the_environment(cli_env: Path) -> None:
    from service.asgi import app

    with TestClient(app()) as client:
        assert client.get("/health/live").status_code == 200
