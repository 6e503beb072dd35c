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


def test_create_prints_only_the_key_and_stores_only_a_hash(cli_stores: Path) -> None:
    result = _run("keys", "create", "--role", "insurer", "--insurer-id", "I-7", "--label", "ops")
    assert result.exit_code == 0, result.output
    assert KEY_LINE.fullmatch(result.stdout)
    key = result.stdout.strip()
    assert key not in result.stderr
    assert f"store: database sqlite:///{cli_stores / 'siterisk.db'}" in result.stderr
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
def test_invalid_key_descriptions_are_refused(cli_stores: Path, args: list[str]) -> None:
    result = _run("keys", "create", *args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_regulator_districts_are_checked_against_the_contract(cli_stores: Path) -> None:
    result = _run("keys", "create", "--role", "regulator", "--district", "gotham")
    assert "gotham" in result.stderr
    ok = _run("keys", "create", "--role", "regulator", "--district", "jingan", "--district", "all")
    assert ok.exit_code == 0
    assert KEY_LINE.fullmatch(ok.stdout)


def test_list_shows_keys_but_never_secrets_or_hashes(cli_stores: Path) -> None:
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


def test_list_never_cuts_the_key_prefix_at_80_columns(cli_stores: Path) -> None:
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


def test_revoke_takes_effect_on_the_next_request(cli_stores: Path) -> None:
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


def test_rotate_prints_a_new_key_and_revokes_the_old(cli_stores: Path) -> None:
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


def test_db_upgrade_makes_the_database_and_current_reads_it(cli_env: Path) -> None:
    database = cli_env / "siterisk.db"
    before = _run("db", "current")
    assert before.exit_code == 1
    assert f"no database at {database}" in before.stderr
    assert not cli_env.exists()  # asking made nothing
    made = _run("db", "upgrade")
    assert made.exit_code == 0, made.output
    assert f"store: database sqlite:///{database}" in made.stderr
    assert migrate.current(get_settings().db_url) == migrate.head()
    now = _run("db", "current")
    assert f"database: {migrate.head()}" in now.stdout
    assert f"store: database sqlite:///{database}" in now.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "create", "--role", "admin"],
        ["keys", "list"],
        ["keys", "revoke", "1"],
        ["keys", "rotate", "1"],
        ["db", "revision", "a change"],
        ["data", "export", "--out", "exported"],
        ["quotes", "replay", "3f1c"],
        ["serve"],
    ],
)
def test_a_missing_database_is_refused_in_one_line_and_never_made(
    cli_env: Path, command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served"))
    monkeypatch.chdir(tmp_path)
    result = _run(*command)
    assert result.exit_code != 0
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()  # one line, no traceback
    assert line == (
        f"error: no database at {cli_env / 'siterisk.db'}: run `siterisk db upgrade` (or "
        "`make demo`) first, or set SITERISK_HOME (or DATABASE_URL) to where it is"
    )
    assert list(tmp_path.iterdir()) == []  # no home, no export folder: nothing made


def test_a_database_without_tables_says_to_run_db_upgrade(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An empty file given as DATABASE_URL: there, but not migrated.
    server = tmp_path / "server.db"
    server.write_bytes(b"")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{server}")
    get_settings.cache_clear()
    result = _run("keys", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the database sqlite:///{server} has no tables yet: run `siterisk db upgrade` "
        "first\n"
    )


def test_a_server_database_that_does_not_answer_is_one_line_without_its_password(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1 on loopback refuses at once.
    url = "postgresql+psycopg://siterisk:s3cret-db-password@127.0.0.1:1/siterisk"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    for command in (["keys", "list"], ["db", "current"], ["db", "upgrade"]):
        result = _run(*command)
        assert result.exit_code == 1, command
        assert "s3cret-db-password" not in result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.stderr
        assert "postgresql+psycopg://siterisk:***@127.0.0.1:1/siterisk" in errors[0]
        assert "Connection refused" in errors[0] or "connection failed" in errors[0]
        assert "Traceback" not in result.output


def test_serve_migrates_the_embedded_database_and_runs_the_factory(
    cli_stores: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    # A database of an earlier release: serve brings it to this one.
    (cli_stores / "siterisk.db").unlink()
    url = get_settings().db_url
    migrate.upgrade(url, "0001")
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    result = _run("serve", "--port", "8123", "--workers", "2")
    assert result.exit_code == 0, result.output
    ((args, kwargs),) = calls
    assert args == ("service.asgi:app",)
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 8123, 2)
    assert migrate.current(url) == migrate.head()
    assert result.stderr.splitlines()[0] == (
        f"store: database {url}; mlflow sqlite:///{cli_stores / 'mlflow.db'}"
    )


def test_serve_refuses_a_missing_mlflow_store_unless_the_model_is_a_file(
    cli_stores: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    calls: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(a))
    (cli_stores / "mlflow.db").unlink()
    result = _run("serve")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no MLflow store at {cli_stores / 'mlflow.db'}: ")
    assert "siterisk train" in result.stderr
    assert not (cli_stores / "mlflow.db").exists()
    assert calls == []
    # A model given as a folder needs no registry.
    monkeypatch.setenv("SITERISK_MODEL_URI", str(tmp_path / "a-model"))
    get_settings.cache_clear()
    served = _run("serve")
    assert served.exit_code == 0, served.output
    assert len(calls) == 1
    assert "mlflow" not in served.stderr


def test_the_asgi_factory_builds_an_app_from_the_environment(cli_stores: Path) -> None:
    from service.asgi import app

    with TestClient(app()) as client:
        assert client.get("/health/live").status_code == 200
