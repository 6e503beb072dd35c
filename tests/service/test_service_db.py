"""The database layer: migrations, tables, SQLite settings, sessions in handlers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.testing import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select
from svc_helpers import bearer

from models.settings import Settings
from service.app import create_app
from service.db import migrate
from service.db.engine import Database, make_engine, normalise_url
from service.db.tables import ApiKey, IdempotencyRecord, Quote, QuoteImmutableError
from service.errors import NotFoundError


def _quote(api_key_id: int, **overrides: Any) -> Quote:
    values: dict[str, Any] = {
        "api_key_id": api_key_id,
        "insurer_id": "I1",
        "site_id": "S1",
        "district": "pudong",
        "request_hash": "a" * 64,
        "input_hash": "b" * 64,
        "request": {"site_id": "S1", "months": [{"worker_hours": 10.5}]},
        "response": {"premium": 1234.5, "band": "B"},
        "model_name": "site-risk",
        "model_version": "3",
        "model_uri": "models:/site-risk/3",
        "tariff_version": "t-2025.1",
        "band_version": "b-2025.1",
        "incentive_version": "i-2025.1",
        "final_premium": 1234.5,
    }
    values.update(overrides)
    return Quote(**values)


def _key(session: Session) -> int:
    row = ApiKey(prefix="0123456789ab", key_hash="c" * 64, role="insurer", insurer_id="I1")
    session.add(row)
    session.commit()
    assert row.id is not None
    return row.id


def test_migrations_bring_an_empty_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'folder' / 'service.db'}"
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
    engine = make_engine(url)
    with engine.connect() as connection:
        assert {"api_key", "quote", "alembic_version"} <= set(inspect(connection).get_table_names())
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        # The hand-written migration matches the tables exactly.
        assert compare_metadata(context, SQLModel.metadata) == []
        checks = inspect(connection).get_check_constraints("api_key")
        assert [c["name"] for c in checks] == ["ck_api_key_role"]
    engine.dispose()
    command.downgrade(migrate.alembic_config(url), "base")
    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(settings: Settings) -> None:
    database = Database(settings.db_url)
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with database.session() as session:
        session.add(_quote(api_key_id=999))  # no such key
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(ApiKey(prefix="0123456789ab", key_hash="c" * 64, role="emperor"))
        with pytest.raises(IntegrityError):  # the role CHECK constraint
            session.commit()
    database.dispose()


def test_quotes_are_stored_once_and_never_updated(settings: Settings) -> None:
    database = Database(settings.db_url)
    with database.session() as session:
        key_id = _key(session)
        quote = _quote(key_id)
        session.add(quote)
        session.commit()
        quote_id = quote.id
        stored = session.get(Quote, quote_id)
        assert stored is not None
        assert stored.request["months"][0]["worker_hours"] == 10.5
        assert stored.created_at.tzinfo is not None
        stored.final_premium = 1.0
        session.add(stored)
        with pytest.raises(QuoteImmutableError):
            session.commit()
        session.rollback()
    with database.session() as session:
        again = session.get(Quote, quote_id)
        assert again is not None
        assert again.final_premium == 1234.5
    # Not through the ORM either: the database itself refuses.
    with database.engine.connect() as connection, pytest.raises(IntegrityError):
        connection.execute(text("UPDATE quote SET final_premium = 1.0"))
    database.dispose()


def _record(key_id: int, owner: str, key: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        owner=owner,
        idempotency_key=key,
        endpoint="POST /v1/quotes",
        request_hash="e" * 64,
        api_key_id=key_id,
        status_code=201,
        answer={"quote_id": "q"},
    )


def test_an_idempotency_key_is_unique_per_owner(settings: Settings) -> None:
    database = Database(settings.db_url)
    with database.session() as session:
        key_id = _key(session)
        session.add(_record(key_id, "I1", "k1"))
        session.add(_record(key_id, "I2", "k1"))  # another insurer's k1
        session.commit()
        session.add(_record(key_id, "I1", "k1"))  # even through another key of I1
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
    with database.engine.connect() as connection, pytest.raises(IntegrityError):
        connection.execute(text("UPDATE idempotency_record SET status_code = 500"))
    database.dispose()


def test_timestamps_come_back_as_aware_utc(settings: Settings) -> None:
    shanghai = timezone(timedelta(hours=8))
    made = datetime(2025, 3, 1, 9, 30, tzinfo=shanghai)
    database = Database(settings.db_url)
    with database.session() as session:
        key_id = _key(session)
        row = session.get(ApiKey, key_id)
        assert row is not None
        row.revoked_at = made
        session.add(row)
        session.commit()
    with database.session() as session:
        again = session.get(ApiKey, key_id)
        assert again is not None
        assert again.revoked_at == made
        assert again.revoked_at.tzinfo == UTC
    database.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p%40ss@db:5432/siterisk", "postgresql+psycopg://u:p%40ss@db:5432/siterisk"),
        ("postgresql://u@db/siterisk", "postgresql+psycopg://u@db/siterisk"),
        ("postgresql+psycopg://u@db/siterisk", "postgresql+psycopg://u@db/siterisk"),
        ("sqlite:///var/siterisk.db", "sqlite:///var/siterisk.db"),
    ],
)
def test_database_urls_get_the_psycopg_driver(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_a_postgres_engine_is_made_without_connecting() -> None:
    engine = make_engine("postgresql://u:p@localhost:1/siterisk")
    assert engine.dialect.name == "postgresql"
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_database_check_reports_schema_state(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    database = Database(url)
    ok, detail = database.check(migrate.head())
    assert not ok
    assert "no schema" in detail
    migrate.upgrade(url)
    assert database.check(migrate.head())[0]
    ok, detail = database.check("9999")
    assert not ok
    assert migrate.head() in detail
    assert "9999" in detail
    database.dispose()


@post("/v1/notes/{label:str}", sync_to_thread=True)
def add_key_note(label: FromPath[str], db_session: NamedDependency[Session]) -> dict[str, int]:
    row = ApiKey(prefix=label.ljust(12, "0")[:12], key_hash="e" * 64, role="admin", label=label)
    db_session.add(row)
    db_session.commit()
    return {"id": row.id or 0}


@get("/v1/notes/{label:str}", sync_to_thread=True)
def read_key_note(label: FromPath[str], db_session: NamedDependency[Session]) -> dict[str, int]:
    row = db_session.exec(select(ApiKey).where(ApiKey.label == label)).first()
    if row is None:
        raise NotFoundError()
    return {"id": row.id or 0}


def test_handlers_get_a_session_and_commit_explicitly(settings: Settings, issue_key: Any) -> None:
    key = issue_key("admin").key
    app = create_app(settings, route_handlers=[add_key_note, read_key_note])
    with TestClient(app) as client:
        created = client.post("/v1/notes/abc", headers=bearer(key))
        assert created.status_code == 201
        found = client.get("/v1/notes/abc", headers=bearer(key))
        assert found.json() == created.json()
        assert client.get("/v1/notes/zzz", headers=bearer(key)).status_code == 404
