"""The feed's storage on SQLite and on a real PostgreSQL: the migration matches the
tables, values read back to the bit, corrections keep the old version, and the queries
the service runs are served by indexes (PostgreSQL's plans, with sequential scans off)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pandas.testing import assert_frame_equal
from sqlalchemy import inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from models.contract import ContractData
from models.settings import Settings
from service.db import migrate
from service.db.engine import Database
from service.errors import ConflictError
from service.feed.export import read_current
from service.feed.store import (
    FeedStore,
    claims_before_query,
    district_months_query,
    district_stamp_query,
    months_before_query,
)

INDEXES = {
    "site": {("district",), ("contractor_id",)},
    "site_month": {("month",)},
    "claim": {("site_id", "insurer_id", "incident_date")},
}
PRIMARY_KEYS = {
    "site": ["site_id"],
    "site_month": ["site_id", "month"],
    "claim": ["insurer_id", "claim_id"],
}


class Databases(Protocol):  # tests/conftest.py's PgDatabases
    def create(self, template: str | None = None) -> str: ...
    def drop(self, url: str) -> None: ...


@pytest.fixture
def pg_feed_db(pg_databases: Databases) -> Iterator[Database]:
    url = pg_databases.create()
    migrate.upgrade(url)
    database = Database(url)
    yield database
    database.dispose()
    pg_databases.drop(url)


@pytest.fixture
def sqlite_db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.db_url)
    yield database
    database.dispose()


def _check_schema(connection: Connection) -> None:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, SQLModel.metadata) == []
    inspector = inspect(connection)
    for table, wanted in INDEXES.items():
        found = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
        assert wanted <= found, table
        assert inspector.get_pk_constraint(table)["constrained_columns"] == PRIMARY_KEYS[table]


def _lost_race(database: Database, data: ContractData, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another upload stored the same keys between this one's read and write: a 409,
    and this upload stores nothing."""
    sites = ContractData(data.sites.head(5), data.site_months.head(0), data.claims.head(0))
    more = ContractData(data.sites.head(8), data.site_months.head(0), data.claims.head(0))
    with database.session() as session:
        FeedStore(session).upsert(sites, ["sites"], fed_by=None)
    monkeypatch.setattr(FeedStore, "_stored_versions", lambda *_: {})
    with database.session() as session, pytest.raises(ConflictError):
        FeedStore(session).upsert(more, ["sites"], fed_by=None)
    monkeypatch.undo()
    with database.session() as session:
        assert len(FeedStore(session).site_ids()) == 5


def _round_trip(database: Database, data: ContractData) -> None:
    """Store, store again, correct one month: values exact, versions kept."""
    with database.session() as session:
        from sqlalchemy import insert

        from service.db.tables import ApiKey

        session.execute(
            insert(ApiKey).values(id=1, prefix="p" * 12, key_hash="h" * 64, role="platform",
                                  districts=[], created_at=dt.datetime.now(dt.UTC))
        )  # fmt: skip
        session.commit()
        store = FeedStore(session)
        first = store.upsert(data, ["sites", "site_months"], fed_by=1)
        assert first.tables["site_months"].inserted == len(data.site_months)
        claims = store.upsert(data, ["claims"], fed_by=1, insurer_id="INS-A")
        assert claims.tables["claims"].inserted == len(data.claims)
        again = store.upsert(data, ["sites", "site_months", "claims"], fed_by=1, insurer_id="INS-A")
        assert {t: r.unchanged for t, r in again.tables.items()} == {
            "sites": len(data.sites), "site_months": len(data.site_months),
            "claims": len(data.claims),
        }  # fmt: skip
        for table in ("sites", "site_months", "claims"):
            stored = read_current(session, table)
            if table == "claims":
                stored = stored.drop(columns=["insurer_id"])
            key = {"sites": ["site_id"], "site_months": ["site_id", "month"],
                   "claims": ["claim_id"]}[table]  # fmt: skip
            original = getattr(data, table).sort_values(key).reset_index(drop=True)
            assert_frame_equal(stored.sort_values(key).reset_index(drop=True), original)
        corrected = data.site_months.copy()
        corrected.loc[corrected.index[3], "new_worker_share"] = None
        changed = ContractData(data.sites, corrected, data.claims)
        outcome = store.upsert(changed, ["site_months"], fed_by=1, keep_rows=True)
        assert outcome.tables["site_months"].updated == 1
        row = data.site_months.iloc[3]
        versions = store.versions("site_months", {"site_id": row["site_id"], "month": row["month"]})
        assert [v["version"] for v in versions] == [2, 1]
        assert versions[0]["new_worker_share"] is None
        assert versions[1]["new_worker_share"] == row["new_worker_share"]


def test_sqlite_schema_indexes_and_round_trip(
    sqlite_db: Database, alien_data: ContractData, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite_db.engine.connect() as connection:
        _check_schema(connection)
        plans = {
            "months": months_before_query("S", "2024-01", 36),
            "claims": claims_before_query("S", "I", dt.date(2024, 1, 1)),
            "stamp": district_stamp_query("pudong"),
            "district months": district_months_query("pudong"),
        }
        for name, query in plans.items():
            sql = str(
                query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
            )
            steps = [r[-1] for r in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            # Every table is searched through an index; none is scanned whole.
            assert not [s for s in steps if s.startswith("SCAN")], (name, steps)
            assert any("USING INDEX" in s for s in steps), (name, steps)
    _lost_race(sqlite_db, alien_data, monkeypatch)
    _round_trip(sqlite_db, alien_data)


def _pg_plan(connection: Connection, query: Any) -> str:
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return "\n".join(r[0] for r in connection.execute(text(f"EXPLAIN {sql}")))


def test_postgres_schema_round_trip_and_indexed_queries(
    pg_feed_db: Database, alien_data: ContractData, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pg_feed_db.engine.connect() as connection:
        _check_schema(connection)
    _lost_race(pg_feed_db, alien_data, monkeypatch)
    _round_trip(pg_feed_db, alien_data)
    with pg_feed_db.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        # Small tables make a sequential scan cheapest; forbid it to see that an index
        # serves each query at all (what the planner picks at city scale).
        connection.execute(text("SET enable_seqscan = off"))
        site = alien_data.sites["site_id"].iloc[0]
        for query in (
            months_before_query(site, "2024-01", 36),
            claims_before_query(site, "INS-A", dt.date(2024, 1, 1)),
            district_stamp_query("pudong"),
            district_months_query("pudong"),
        ):
            plan = _pg_plan(connection, query)
            assert "Index" in plan, plan
            assert "Seq Scan" not in plan, plan
