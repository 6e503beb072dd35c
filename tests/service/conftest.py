"""A migrated SQLite database per test (copied from one migrated once), settings
pointing at it, and a helper that issues API keys straight into it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from svc_helpers import PEPPER, make_settings

from models.settings import Settings, get_settings
from service.auth.store import ApiKeyStore, IssuedKey, KeySpec
from service.db import migrate
from service.db.engine import Database


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "siterisk.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_db: Path) -> Settings:
    shutil.copy(migrated_db, tmp_path / "siterisk.db")
    return make_settings(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Database]:
    """The test's migrated database, on SQLite and on a real PostgreSQL of its own."""
    url = settings.db_url  # a copy of the migrated template
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        migrate.upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


IssueKey = Callable[..., IssuedKey]


@pytest.fixture
def issue_key(settings: Settings) -> Iterator[IssueKey]:
    """``issue_key("insurer", insurer_id="I1")`` -> the stored row and the key."""
    database = Database(settings.db_url)

    def issue(role: str, **kwargs: Any) -> IssuedKey:
        with database.session() as session:
            store = ApiKeyStore(session, settings.key_pepper.get_secret_value())
            return store.create(KeySpec.parse(role, **kwargs))

    yield issue
    database.dispose()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The environment the CLI reads: a fresh home with no stores yet (commands but
    `db upgrade` and `train` refuse it; :func:`cli_stores` has them)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SITERISK_HOME", str(home))
    monkeypatch.setenv("SITERISK_KEY_PEPPER", PEPPER)
    monkeypatch.setenv("SITERISK_ENV", "dev")
    for name in (
        "DATABASE_URL",
        "SITERISK_DATABASE_URL",
        "MLFLOW_TRACKING_URI",
        "SITERISK_MLFLOW_TRACKING_URI",
        "SITERISK_MODEL_URI",
        "SITERISK_AUTH_CACHE_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables and nothing registered, made once."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
    return path


@pytest.fixture
def cli_stores(cli_env: Path, migrated_db: Path, empty_mlflow_store: Path) -> Path:
    """:func:`cli_env` with its stores made, as after ``siterisk db upgrade`` and
    ``siterisk train``: a migrated database and an MLflow store (nothing registered)."""
    cli_env.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, cli_env / "siterisk.db")
    shutil.copy(empty_mlflow_store, cli_env / "mlflow.db")
    return cli_env
