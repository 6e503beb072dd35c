"""The database layer on a real PostgreSQL: migrations, constraints, JSONB, time zones,
the quote guard, the key CLI, readiness, an outage, and indexed quote listings.

Each test gets a database of its own, copied from one migrated once per module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from litestar.testing import TestClient
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, select
from svc_helpers import bearer, make_settings
from typer.testing import CliRunner

from models.contract.spec import DISTRICTS
from models.settings import get_settings
from service.app import create_app
from service.auth.store import ApiKeyStore, KeySpec
from service.cli import app as cli
from service.db import migrate
from service.db.engine import Database
from service.db.tables import ApiKey, IdempotencyRecord, Quote, QuoteImmutableError

SHANGHAI = timezone(timedelta(hours=8))
KEY_LINE = re.compile(r"srk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n")


class Databases(Protocol):  # tests/conftest.py's PgDatabases
    def create(self, template: str | None = None) -> str: ...
    def drop(self, url: str) -> None: ...


@pytest.fixture(scope="module")
def migrated_template(pg_databases: Databases) -> str:
    url = pg_databases.create()
    migrate.upgrade(url)  # disposes its engine: the template keeps no connection
    return url


@pytest.fixture
def pg_db(pg_databases: Databases, migrated_template: str) -> Iterator[Database]:
    """A migrated database of this test's own."""
    url = pg_databases.create(template=migrated_template)
    database = Database(url)
    yield database
    database.dispose()
    pg_databases.drop(url)


@pytest.fixture
def admin(pg_url: str) -> Iterator[Engine]:
    """Superuser statements on the test server, each in its own transaction."""
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    engine.dispose()


def _engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def _name(database: Database | str) -> str:
    url = database.url if isinstance(database, Database) else database
    name = make_url(url).database
    assert name
    return name


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


def _key(session: Session, prefix: str = "0123456789ab", role: str = "insurer") -> int:
    row = ApiKey(
        prefix=prefix, key_hash="c" * 64, role=role, insurer_id="I1" if role == "insurer" else None
    )
    session.add(row)
    session.commit()
    assert row.id is not None
    return row.id


# --- schema ----------------------------------------------------------------------------


def test_migrations_go_up_down_and_up_and_match_the_tables(pg_database: str) -> None:
    migrate.upgrade(pg_database)
    assert migrate.current(pg_database) == migrate.head()
    engine = _engine(pg_database)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        # The hand-written migrations build exactly the tables the code declares.
        assert compare_metadata(context, SQLModel.metadata) == []
        inspector = inspect(connection)
        assert {"api_key", "quote", "alembic_version"} <= set(inspector.get_table_names())
        columns = {c["name"]: c["type"] for c in inspector.get_columns("quote")}
        assert str(columns["request"]) == str(columns["response"]) == "JSONB"
        assert getattr(columns["created_at"], "timezone", False) is True
        checks = inspector.get_check_constraints("api_key")
        assert [c["name"] for c in checks] == ["ck_api_key_role"]
    engine.dispose()

    command.downgrade(migrate.alembic_config(pg_database), "base")
    assert migrate.current(pg_database) is None
    engine = _engine(pg_database)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
    engine.dispose()
    migrate.upgrade(pg_database)
    assert migrate.current(pg_database) == migrate.head()


def test_keys_and_quotes_keep_their_constraints(pg_db: Database) -> None:
    with pg_db.session() as session:
        key_id = _key(session)
        other_id = _key(session, prefix="ba9876543210", role="admin")
        session.add(_quote(key_id))
        session.add(_quote(key_id))
        session.add(_quote(key_id))
        session.add(_quote(other_id))
        session.add(_record(key_id, "I1", "k1"))
        session.add(_record(other_id, "admin:2", "k1"))  # another owner's k1
        session.commit()
        for bad in (
            _record(other_id, "I1", "k1"),  # I1's k1 again, through another key
            _quote(999_999),  # no such key
            ApiKey(prefix="0123456789ab", key_hash="d" * 64, role="admin"),  # prefix taken
            ApiKey(prefix="fedcba987654", key_hash="d" * 64, role="emperor"),  # CHECK
        ):
            session.add(bad)
            with pytest.raises(IntegrityError):
                session.commit()
            session.rollback()
        assert len(session.exec(select(Quote)).all()) == 4
        assert len(session.exec(select(ApiKey)).all()) == 2


def test_json_columns_round_trip_as_queryable_jsonb(pg_db: Database) -> None:
    request = {
        "site_id": "S1",
        "name": "浦东新区 3号地块",
        "months": [{"worker_hours": 10.5, "helmet_rate": None, "night_work": True}],
        "nested": {"a": [1, 2, {"b": "c"}]},
    }
    with pg_db.session() as session:
        key_id = _key(session)
        quote = _quote(key_id, request=request)
        session.add(quote)
        session.commit()
        quote_id = quote.id
    with pg_db.session() as session:
        stored = session.get(Quote, quote_id)
        assert stored is not None
        assert stored.request == request
        row = (
            session.connection()
            .execute(
                text(
                    "SELECT pg_typeof(request)::text, request->'months'->0->>'worker_hours', "
                    "request->>'name' FROM quote WHERE request @> CAST(:probe AS jsonb)"
                ),
                {"probe": '{"nested": {"a": [{"b": "c"}]}}'},
            )
            .one()
        )
    assert tuple(row) == ("jsonb", "10.5", "浦东新区 3号地块")


def test_the_rate_book_in_force_is_found_by_date_and_read_from_jsonb(pg_db: Database) -> None:
    from models.pricing.ratebook import load_ratebook, parse_ratebook
    from service.ratebooks import store as books

    shipped = dict(load_ratebook().document)
    with pg_db.session() as session:
        store = books.RateBookStore(session)
        for version, start in (("2025.1", shipped["effective_from"]), ("2026.1", "2026-06-01")):
            document = {**shipped, "insurer_id": "acme", "version": version}
            store.import_book(parse_ratebook({**document, "effective_from": start}), by="ops")
        for version in ("2025.1", "2026.1"):
            store.activate("acme", version, by="ops")
    books._cache.clear()  # each document read from its jsonb column, not a parsed copy
    with pg_db.session() as session:
        store = books.RateBookStore(session)
        before = store.in_force("acme", datetime(2026, 5, 31).date())
        after = store.in_force("acme", datetime(2026, 6, 1).date())
        row = store.find("acme", "2026.1")
        assert store.in_force("zenith", datetime(2026, 6, 1).date()) is None
    assert before is not None
    assert after is not None
    assert row is not None
    assert (before.version, after.version) == ("2025.1", "2026.1")
    assert after == books.book_of(row)
    assert dict(after.document) == row.document


def test_timestamps_are_stored_as_instants_and_read_back_in_utc(
    pg_db: Database, admin: Engine
) -> None:
    # The server's session zone must not leak into what the application reads.
    with admin.connect() as connection:
        connection.execute(
            text(f"ALTER DATABASE \"{_name(pg_db)}\" SET timezone = 'Asia/Shanghai'")
        )
    pg_db.engine.dispose()
    made = datetime(2025, 3, 1, 9, 30, tzinfo=SHANGHAI)
    with pg_db.session() as session:
        assert session.connection().execute(text("SHOW timezone")).scalar() == "Asia/Shanghai"
        key_id = _key(session)
        row = session.get(ApiKey, key_id)
        assert row is not None
        row.revoked_at = made
        session.add(row)
        session.commit()
    with pg_db.session() as session:
        again = session.get(ApiKey, key_id)
        assert again is not None
        assert again.revoked_at == made
        assert again.revoked_at.tzinfo == UTC
        assert again.created_at.tzinfo == UTC
        assert abs(datetime.now(UTC) - again.created_at) < timedelta(minutes=5)
        utc_wall_clock = session.connection().execute(
            text("SELECT revoked_at AT TIME ZONE 'UTC' FROM api_key WHERE id = :id"),
            {"id": key_id},
        )
        assert utc_wall_clock.scalar() == datetime(2025, 3, 1, 1, 30)


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


def test_a_stored_quote_cannot_be_updated_through_the_orm(pg_db: Database) -> None:
    with pg_db.session() as session:
        quote = _quote(_key(session))
        session.add(quote)
        session.commit()
        quote_id = quote.id
        quote.final_premium = 1.0
        session.add(quote)
        with pytest.raises(QuoteImmutableError):
            session.commit()
        session.rollback()
    with pg_db.session() as session:
        stored = session.get(Quote, quote_id)
        assert stored is not None
        assert stored.final_premium == 1234.5
    with pg_db.session() as session:
        session.add(_record(_key(session, prefix="ba9876543210"), "I1", "k1"))
        session.commit()
    # Nor with plain SQL: a trigger refuses any UPDATE.
    for statement in (
        "UPDATE quote SET final_premium = 1.0",
        "UPDATE idempotency_record SET status_code = 500",
    ):
        with pg_db.engine.connect() as connection, pytest.raises(IntegrityError):
            connection.execute(text(statement))


# --- the key CLI and the service -------------------------------------------------------


def test_the_key_cli_works_against_postgres_after_db_upgrade(
    cli_env: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_database)
    get_settings.cache_clear()
    runner = CliRunner()
    args = ["keys", "create", "--role", "insurer", "--insurer-id", "I-7", "--label", "ops"]
    # A server database is migrated only on purpose, never by 'keys create'.
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 1
    assert "has no tables yet: run `siterisk db upgrade` first" in refused.stderr
    assert refused.stdout == ""

    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"is at {migrate.head()}" in upgraded.stderr
    assert migrate.current(pg_database) == migrate.head()
    created = runner.invoke(cli, args)
    assert created.exit_code == 0, created.output
    assert KEY_LINE.fullmatch(created.stdout)
    key = created.stdout.strip()
    assert not (cli_env / "siterisk.db").exists()  # nothing went to the embedded default

    database = Database(pg_database)
    with database.session() as session:
        (row,) = session.exec(select(ApiKey)).all()
    database.dispose()
    assert (row.prefix, row.role, row.insurer_id, row.label) == (
        key.split("_")[1],
        "insurer",
        "I-7",
        "ops",
    )
    assert key not in row.model_dump_json()
    with TestClient(create_app()) as client:
        me = client.get("/v1/whoami", headers=bearer(key))
    assert me.status_code == 200
    assert (me.json()["role"], me.json()["insurer_id"]) == ("insurer", "I-7")


def test_readiness_reports_the_postgres_database(
    tmp_path: Path, pg_db: Database, pg_database: str
) -> None:
    migrated = create_app(make_settings(tmp_path, database_url=pg_db.url))
    empty = create_app(make_settings(tmp_path, database_url=pg_database))
    with TestClient(migrated) as client:
        database = client.get("/health/ready").json()["checks"]["database"]
    assert database == {"ok": True, "detail": f"database reachable, schema {migrate.head()}"}
    with TestClient(empty) as client:
        database = client.get("/health/ready").json()["checks"]["database"]
    assert database["ok"] is False
    assert "siterisk db upgrade" in database["detail"]


def test_a_database_outage_is_a_503_and_the_service_recovers_by_itself(
    tmp_path: Path, pg_db: Database, admin: Engine
) -> None:
    with pg_db.session() as session:
        key = ApiKeyStore(session, make_settings(tmp_path).key_pepper.get_secret_value()).create(
            KeySpec.parse("insurer", insurer_id="I1")
        )
    pg_db.dispose()
    # Every request asks the database (no key cache), so every request sees the outage.
    settings = make_settings(tmp_path, database_url=pg_db.url, auth_cache_seconds=0.0)
    name = _name(pg_db)

    def database_reachable(reachable: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {reachable}'))
            if not reachable:  # and drop everyone already connected, pooled or not
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )

    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/whoami", headers=bearer(key.key)).status_code == 200
        database_reachable(False)
        try:
            for _ in range(2):  # also once the pool holds no connection at all
                down = client.get("/v1/whoami", headers=bearer(key.key))
                assert down.status_code == 503
                assert down.headers["content-type"].startswith("application/json")
                assert down.headers["retry-after"] == "5"
                assert down.json() == {
                    "error": {
                        "status": 503,
                        "code": "database_unavailable",
                        "message": "the database is unavailable; try again shortly",
                    }
                }
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == {
                "ok": False,
                "detail": "database unreachable",
            }
            assert client.get("/health/live").status_code == 200
        finally:
            database_reachable(True)
        back = client.get("/v1/whoami", headers=bearer(key.key))
        assert back.status_code == 200
        assert back.json()["insurer_id"] == "I1"
        assert client.get("/health/ready").json()["checks"]["database"]["ok"] is True


# --- listing quotes --------------------------------------------------------------------

QUOTES = 20_000
INSURERS = 40
SITES = 2_000
CONTRACTORS = 400

# How callers find quotes (their own, newest first, a page at a time) and the index each
# one needs. Listings by contractor or district sort their matches; with (contractor_id,
# created_at) and (district, created_at) indexes they would not need to.
LISTINGS = {
    "insurer": (
        "WHERE insurer_id = 'I7' ORDER BY created_at DESC LIMIT 50",
        "ix_quote_insurer_created",
    ),
    "insurer and site": (
        "WHERE insurer_id = 'I7' AND site_id = 'S77' ORDER BY created_at DESC",
        "ix_quote_site_id",
    ),
    "contractor": (
        "WHERE contractor_id = 'C7' ORDER BY created_at DESC LIMIT 50",
        "(?:ix_quote_contractor_id|ix_quote_contractor_site_created)",
    ),
    "a contractor's latest explanation": (
        "WHERE contractor_id = 'C7' AND site_id = 'S7' ORDER BY created_at DESC LIMIT 1",
        "ix_quote_contractor_site_created",
    ),
    "districts": (
        "WHERE district IN ('pudong', 'jingan') ORDER BY created_at DESC LIMIT 50",
        "ix_quote_district",
    ),
}


@pytest.fixture(scope="module")
def populated(pg_databases: Databases, migrated_template: str) -> Iterator[Engine]:
    """A migrated database holding many quotes, with fresh planner statistics."""
    url = pg_databases.create(template=migrated_template)
    engine = _engine(url)
    districts = "ARRAY[" + ", ".join(f"'{d}'" for d in DISTRICTS) + "]"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_key (prefix, key_hash, role, insurer_id, districts, created_at) "
                "VALUES ('0123456789ab', repeat('c', 64), 'insurer', 'I1', '[]', now())"
            )
        )
        connection.execute(
            text(
                f"""
                INSERT INTO quote (id, created_at, api_key_id, insurer_id, site_id, contractor_id,
                    district, request_hash, input_hash, request, response,
                    model_name, model_version, model_uri, tariff_version, band_version,
                    incentive_version, final_premium, currency)
                SELECT gen_random_uuid()::text, now() - make_interval(mins => n),
                    1, 'I' || (n % {INSURERS}), 'S' || (n % {SITES}), 'C' || (n % {CONTRACTORS}),
                    ({districts})[1 + n % {len(DISTRICTS)}],
                    repeat('a', 64), repeat('b', 64), '{{}}', '{{}}', 'site-risk', '3',
                    'models:/site-risk/3', 't', 'b', 'i', 1000 + n, 'CNY'
                FROM generate_series(1, {QUOTES}) AS n
                """
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE quote"))
    yield engine
    engine.dispose()
    pg_databases.drop(url)


@pytest.mark.xdist_group("pg_quote_listings")  # one worker fills the table, not both
@pytest.mark.parametrize("listing", LISTINGS)
def test_quote_listings_are_served_by_an_index(populated: Engine, listing: str) -> None:
    where, index = LISTINGS[listing]
    with populated.connect() as connection:
        plan = "\n".join(connection.execute(text(f"EXPLAIN SELECT * FROM quote {where}")).scalars())
    assert "Seq Scan" not in plan, plan
    assert re.search(
        rf"(Index Scan|Index Scan Backward|Bitmap Index Scan) (using|on) {index}\b", plan
    ), plan
    if listing == "insurer":  # the index hands rows over newest first: nothing to sort
        assert "Sort" not in plan, plan


def test_a_statement_stuck_past_the_timeout_is_cancelled_and_answered_503(
    tmp_path: Path, pg_db: Database
) -> None:
    """A query waiting on a lock (or running away) is cancelled by the server after
    SITERISK_DB_STATEMENT_TIMEOUT_SECONDS, so it cannot hold a worker for ever."""
    with pg_db.session() as session:
        key = ApiKeyStore(session, make_settings(tmp_path).key_pepper.get_secret_value()).create(
            KeySpec.parse("insurer", insurer_id="I1")
        )
    pg_db.dispose()
    settings = make_settings(
        tmp_path,
        database_url=pg_db.url,
        auth_cache_seconds=0.0,
        db_statement_timeout_seconds=0.5,
    )
    locker = _engine(pg_db.url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/whoami", headers=bearer(key.key)).status_code == 200
        with (
            locker.connect() as connection,  # holds the lock until it rolls back
            ThreadPoolExecutor(max_workers=1) as pool,
        ):
            connection.execute(text("LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            asked = pool.submit(client.get, "/v1/whoami", headers=bearer(key.key))
            # without the limit the request would wait for the lock: released after 5 s
            done, _ = wait([asked], timeout=5.0)
            waited = time.monotonic() - started
            connection.rollback()
            stuck = asked.result(timeout=30)
        assert done, "the request waited for the lock: no statement timeout"
        assert stuck.status_code == 503
        assert stuck.json()["error"]["code"] == "database_unavailable"
        assert 0.4 <= waited < 5.0
        assert client.get("/v1/whoami", headers=bearer(key.key)).status_code == 200
    locker.dispose()
    service_side = Database(pg_db.url, statement_timeout_s=0.5)
    try:
        with service_side.session() as session:
            assert session.execute(text("SHOW statement_timeout")).scalar_one() == "500ms"
    finally:
        service_side.dispose()
    with pg_db.session() as session:  # migrations and the CLI: no limit
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "0"
