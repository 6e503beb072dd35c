"""A newcomer's first hour (issue 18): ``siterisk`` finds the same stores from any
folder, says which it uses, and refuses, in one line, to work on a store that is not
there instead of making an empty one where it happens to run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import models.settings
from models.settings import get_settings
from siterisk.cli import app

runner = CliRunner()


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``siterisk`` as installed from a wheel, for a user whose data folder is
    ``tmp_path/xdg``: no SITERISK_HOME, no store URLs; returns the default home."""
    for name in (
        "SITERISK_HOME",
        "DATABASE_URL",
        "SITERISK_DATABASE_URL",
        "MLFLOW_TRACKING_URI",
        "SITERISK_MLFLOW_TRACKING_URI",
        "SITERISK_MODEL_URI",
        "SITERISK_MODEL_CACHE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SITERISK_ENV", "dev")
    monkeypatch.setattr(models.settings, "source_checkout", lambda: None)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    get_settings.cache_clear()
    yield tmp_path / "xdg" / "siterisk"
    get_settings.cache_clear()


def _folder(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path.mkdir(parents=True)
    monkeypatch.chdir(path)
    return path


def test_elsewhere_keys_create_refuses_and_makes_no_database(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = _folder(tmp_path / "elsewhere", monkeypatch)
    result = runner.invoke(app, ["keys", "create", "--role", "admin"])
    assert result.exit_code == 1
    assert result.stdout == ""  # no key that no service would accept
    assert result.stderr.splitlines() == [
        f"error: no database at {installed / 'siterisk.db'}: run `siterisk db upgrade` (or "
        "`make demo`) first, or set SITERISK_HOME (or DATABASE_URL) to where it is"
    ]
    listed = runner.invoke(app, ["model", "list"])
    assert listed.exit_code == 1
    assert listed.stderr.startswith(f"error: no MLflow store at {installed / 'mlflow.db'}: ")
    assert not (tmp_path / "xdg").exists()
    assert list(elsewhere.iterdir()) == []


def test_from_any_folder_the_commands_use_and_name_the_same_store(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = installed / "siterisk.db"
    line = f"store: database sqlite:///{database}"
    _folder(tmp_path / "first", monkeypatch)
    made = runner.invoke(app, ["db", "upgrade"])
    assert made.exit_code == 0, made.output
    assert made.stderr.splitlines()[0] == line
    assert database.is_file()

    second = _folder(tmp_path / "second", monkeypatch)
    created = runner.invoke(app, ["keys", "create", "--role", "admin", "--label", "mine"])
    assert created.exit_code == 0, created.output
    assert created.stderr.splitlines()[0] == line
    assert list(second.iterdir()) == []  # nothing where the command ran

    _folder(tmp_path / "third", monkeypatch)
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"label": "mine"' in listed.stdout
    assert listed.stderr.splitlines()[0] == line


def test_from_a_checkout_the_stores_are_its_var(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "checkout"
    monkeypatch.setattr(models.settings, "source_checkout", lambda: checkout)
    get_settings.cache_clear()
    _folder(tmp_path / "elsewhere", monkeypatch)
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 1
    assert f"no database at {checkout / 'var' / 'siterisk.db'}" in result.stderr
    monkeypatch.setenv("SITERISK_HOME", str(tmp_path / "chosen"))
    get_settings.cache_clear()
    chosen = runner.invoke(app, ["keys", "list"])
    assert f"no database at {tmp_path / 'chosen' / 'siterisk.db'}" in chosen.stderr
