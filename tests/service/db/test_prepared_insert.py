"""service.db.prepared_insert: rows written through the INSERT compiled once are stored
exactly as a Core INSERT stores them (down to the driver's values), its errors are
SQLAlchemy's, and columns with defaults cannot be left out; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from sqlalchemy import Connection, Table, insert, text
from sqlalchemy.exc import IntegrityError

from service.auth.store import ApiKeyStore, KeySpec
from service.db.engine import Database
from service.db.prepared_insert import PreparedInsert
from service.db.tables import IdempotencyRecord, Quote

QUOTE: Table = Quote.__table__  # type: ignore[attr-defined]
RECORD: Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]


class _Answer(msgspec.Struct):
    """A struct in a JSON column, as the store writes a quote's answer."""

    quote_id: str
    premium: float
    lines: list[str]
    at: datetime


@pytest.fixture
def database(migrated_database: Database) -> Database:
    return migrated_database  # SQLite and PostgreSQL (tests/service/conftest.py)


@pytest.fixture
def key_id(database: Database) -> int:
    with database.session() as session:
        issued = ApiKeyStore(session, "pepper").create(KeySpec.parse("insurer", insurer_id="INS-P"))
    assert issued.row.id is not None
    return issued.row.id


def _quote_row(quote_id: str, key_id: int, **changes: Any) -> dict[str, Any]:
    # not UTC: the column stores it as UTC, on SQLite without its zone
    created = datetime(2026, 12, 5, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    row = {
        "id": quote_id,
        "created_at": created,
        "api_key_id": key_id,
        "insurer_id": "INS-P",
        "site_id": "S-1",
        "contractor_id": None,
        "district": "浦东",
        "request_hash": "a" * 64,
        "input_hash": "b" * 64,
        "request": {"site": {"site_id": "S-1"}, "months": [], "note": "工地 ünïcode"},
        "response": _Answer("Q-1", 1234.5678901234567, ["甲", "b"], created),
        "model_name": "site-risk",
        "model_version": "v1",
        "model_uri": "file:///m",
        "tariff_version": "t1",
        "band_version": "b1",
        "incentive_version": "i1",
        "predicted_frequency": 0.1 + 0.2,
        "base_premium": 1000.0,
        "final_premium": 987.65,
        "currency": "CNY",
    }
    return row | changes


def _stored(connection: Connection, table: Table, key: str, value: Any) -> dict[str, Any]:
    """The row as the driver returns it (no SQLAlchemy type processing)."""
    # a text query's columns are untyped: nothing converts what the driver returns
    query = text(f"SELECT * FROM {table.name} WHERE {key} = :value")
    (row,) = connection.execute(query, {"value": value}).mappings()
    return dict(row)


def test_rows_are_stored_as_a_core_insert_stores_them(database: Database, key_id: int) -> None:
    prepared = PreparedInsert(QUOTE)
    with database.engine.begin() as connection:
        connection.execute(insert(QUOTE), [_quote_row("core", key_id)])
        prepared.execute(connection, [_quote_row("prepared", key_id)])
        # several rows: one executemany
        prepared.execute(
            connection,
            [_quote_row(f"many-{i}", key_id, site_id=f"S-{i}", district=None) for i in range(3)],
        )
        core = _stored(connection, QUOTE, "id", "core")
        fast = _stored(connection, QUOTE, "id", "prepared")
        many = _stored(connection, QUOTE, "id", "many-2")
    assert core.pop("id") == "core"
    assert fast.pop("id") == "prepared"
    assert fast == core
    assert (many["site_id"], many["district"], many["band"]) == ("S-2", None, None)
    # and read back through the ORM as the store reads it
    with database.session() as session:
        read = session.get(Quote, "prepared")
        assert read is not None
        assert read.created_at == datetime(2026, 12, 5, 1, 30, 15, 123456, tzinfo=UTC)
        assert read.response["lines"] == ["甲", "b"]
        assert read.response["premium"] == 1234.5678901234567


def test_an_idempotency_record_is_stored_as_the_orm_stores_it(
    database: Database, key_id: int
) -> None:
    at = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "owner": "INS-P",
        "endpoint": "/v1/quotes",
        "request_hash": "c" * 64,
        "api_key_id": key_id,
        "status_code": 201,
        "answer": {"quote_id": "q-1"},
        "created_at": at,
    }
    with database.session() as session:
        session.add(IdempotencyRecord(idempotency_key="orm", **fields))
        session.commit()
    with database.engine.begin() as connection:
        PreparedInsert(RECORD).execute(connection, [{"idempotency_key": "fast", **fields}])
        orm = _stored(connection, RECORD, "idempotency_key", "orm")
        fast = _stored(connection, RECORD, "idempotency_key", "fast")
    for row, key in ((orm, "orm"), (fast, "fast")):
        assert isinstance(row.pop("id"), int)
        assert row.pop("idempotency_key") == key
    assert fast == orm


def test_a_duplicate_key_raises_sqlalchemys_integrity_error(
    database: Database, key_id: int
) -> None:
    prepared = PreparedInsert(QUOTE)
    with database.engine.begin() as connection:
        prepared.execute(connection, [_quote_row("twice", key_id)])
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        prepared.execute(connection, [_quote_row("twice", key_id)])


def test_columns_with_defaults_must_be_given(database: Database, key_id: int) -> None:
    row = _quote_row("no-currency", key_id)
    del row["currency"]  # a Core INSERT would fill in 'CNY'
    with pytest.raises(ValueError, match="currency"), database.engine.begin() as connection:
        PreparedInsert(QUOTE).execute(connection, [row])
