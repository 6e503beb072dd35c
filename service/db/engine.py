"""Engines and sessions for the service database, SQLite or PostgreSQL, from one URL.

SQLite specifics live here and only here: WAL so readers never wait for the one
writer, a busy timeout so a second writer waits instead of failing, foreign keys on.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import msgspec
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000


def normalise_url(url: str) -> str:
    """``postgres://`` and driverless ``postgresql://`` URLs get the psycopg 3 driver."""
    parsed = make_url(
        url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_in_memory(url: str) -> bool:
    return make_url(url).database in (None, "", ":memory:")


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


_JSON: Final[dict[str, Any]] = {
    "json_serializer": _json_text,
    "json_deserializer": msgspec.json.decode,
}


def make_engine(url: str, *, statement_timeout_s: float = 0.0) -> Engine:
    """An engine for ``url``; nothing is connected (or created on disk) until first use.

    ``statement_timeout_s`` (PostgreSQL only; 0 = none): the server cancels any statement
    running longer, so a stuck query cannot hold a worker thread and a pooled connection
    for ever; the service sets it, migrations and the command line do not.

    Statement parameters (requests, claims, key prefixes) are left out of the engine's
    errors and logs: an outage must not copy an insurer's data into the log. JSON
    columns are written and read with msgspec: a stored quote is tens of kilobytes of
    JSON, which the standard library encodes several times slower."""
    url = normalise_url(url)
    if is_sqlite(url):
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False},
            "hide_parameters": True,
            **_JSON,
        }
        if _sqlite_in_memory(url):
            # One shared connection, or every session would see its own empty database.
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"connect_timeout": 5, **_pg_options(statement_timeout_s)},
        hide_parameters=True,
        **_JSON,
    )


def _pg_options(statement_timeout_s: float) -> dict[str, str]:
    if statement_timeout_s <= 0:
        return {}
    return {"options": f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}"}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class Database:
    """The engine and session factory of one database URL."""

    def __init__(self, url: str, *, statement_timeout_s: float = 0.0) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, statement_timeout_s=statement_timeout_s)
        self._sessions = sessionmaker(self.engine, class_=Session, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def session(self) -> Session:
        """A new session; use it as a context manager and commit explicitly."""
        return self._sessions()

    def check(self, expected_revision: str | None = None) -> tuple[bool, str]:
        """Whether the database answers and carries the expected schema revision.

        The message is safe to show unauthenticated callers: details go to the log.
        """
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                if expected_revision is None:
                    return True, "database reachable"
                revision = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar_one_or_none()
        except SQLAlchemyError as exc:
            log.warning("database check failed: %s", exc)
            if "alembic_version" in str(exc):
                return False, "database has no schema; run 'siterisk db upgrade'"
            return False, "database unreachable"
        if revision != expected_revision:
            return False, (
                f"database schema is at {revision or 'nothing'}, the service needs "
                f"{expected_revision}; run 'siterisk db upgrade'"
            )
        return True, f"database reachable, schema {revision}"

    def dispose(self) -> None:
        self.engine.dispose()
