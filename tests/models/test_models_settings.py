"""Where the stores live by default (docs/stores.md): ``SITERISK_HOME``; else the source
checkout's ``var/``; else ``$XDG_DATA_HOME/siterisk``; never the folder a command runs
in, and reading settings makes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import models.settings
from models.settings import Settings, default_home, source_checkout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SITERISK_HOME or store URLs, and the commands run in an empty folder."""
    for name in (
        "SITERISK_HOME",
        "MLFLOW_TRACKING_URI",
        "SITERISK_MLFLOW_TRACKING_URI",
        "DATABASE_URL",
        "SITERISK_DATABASE_URL",
        "SITERISK_MODEL_CACHE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tmp_path


def test_this_checkout_is_found() -> None:
    assert source_checkout() == ROOT
    assert (ROOT / "pyproject.toml").is_file()


def test_from_a_checkout_the_home_is_its_var_whatever_the_folder(no_home: Path) -> None:
    settings = Settings()
    assert settings.home == ROOT / "var"
    assert settings.db_url == f"sqlite:///{ROOT / 'var' / 'siterisk.db'}"
    assert settings.tracking_uri == f"sqlite:///{ROOT / 'var' / 'mlflow.db'}"
    assert settings.artifact_root == ROOT / "var" / "mlartifacts"
    assert settings.model_cache == ROOT / "var" / "model-cache"


def test_installed_the_home_is_the_user_data_folder(
    no_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models.settings, "source_checkout", lambda: None)
    monkeypatch.setenv("XDG_DATA_HOME", str(no_home / "xdg"))
    assert Settings().home == no_home / "xdg" / "siterisk"
    # Without XDG_DATA_HOME (or with a relative one, which the specification says to
    # ignore): ~/.local/share/siterisk.
    monkeypatch.setenv("HOME", str(no_home / "user"))
    for value in (None, "relative/data"):
        if value is None:
            monkeypatch.delenv("XDG_DATA_HOME")
        else:
            monkeypatch.setenv("XDG_DATA_HOME", value)
        assert default_home() == no_home / "user" / ".local" / "share" / "siterisk"
    assert not (no_home / "user").exists()  # computed, never created


def test_a_checkout_is_a_folder_holding_pyproject_toml(
    no_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_package = no_home / "site-packages" / "models" / "settings.py"
    monkeypatch.setattr(models.settings, "__file__", str(fake_package))
    assert source_checkout() is None
    (no_home / "site-packages").mkdir()
    (no_home / "site-packages" / "pyproject.toml").write_text("[project]\n")
    assert source_checkout() == no_home / "site-packages"


def test_siterisk_home_and_the_store_urls_win(
    no_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITERISK_HOME", str(no_home / "mine"))
    assert Settings().home == no_home / "mine"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db/siterisk")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = Settings()
    assert (settings.db_url, settings.tracking_uri) == (
        "postgresql+psycopg://u:p@db/siterisk",
        "http://mlflow:5000",
    )


def test_reading_settings_creates_nothing(no_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.settings, "source_checkout", lambda: None)
    monkeypatch.setenv("XDG_DATA_HOME", str(no_home / "xdg"))
    settings = Settings()
    for value in (settings.db_url, settings.tracking_uri, settings.model_cache):
        assert value
    assert sorted(p.name for p in no_home.iterdir()) == ["elsewhere"]
    assert list((no_home / "elsewhere").iterdir()) == []
