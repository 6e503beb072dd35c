"""A real PostgreSQL for the tests that need one.

``make unit`` starts a throwaway server (``scripts/pg-test-server``) and passes its URL
as ``SITERISK_TEST_POSTGRES_URL``. Without that variable PostgreSQL tests are skipped,
except under CI (``CI=true``) or ``make`` (``SITERISK_REQUIRE_POSTGRES=1``), where a
missing server fails them: there, skipping would hide that they never ran.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

PG_URL_VARIABLE = "SITERISK_TEST_POSTGRES_URL"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` honour ``xdist_group`` marks under pytest >= 9.2.

    xdist 3.8 tags grouped tests by assigning ``item._nodeid``, which pytest 9.2 no
    longer reads (the id lives in ``item._id``), so groups were silently ignored and
    module fixtures (a trained model, an MLflow store) were built once per worker.
    This redoes the tagging where it did not take; a no-op where xdist's own did.
    """
    _unique_node_ids(items)
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(item.nodeid + suffix)


def _unique_node_ids(items: list[pytest.Item]) -> None:
    """Give each item an id of its own. schemathesis' ``schema.parametrize`` makes one
    item per API operation, all with the function's id; xdist schedules by id, so it ran
    one of them and silently dropped the rest. The item's name holds the operation."""
    from collections import Counter

    from _pytest.nodeid import coerce_node_id

    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None and hasattr(item, "_id"):
            item._id = coerce_node_id(f"{item.parent.nodeid}::{item.name}")
    still = [nodeid for nodeid, n in Counter(i.nodeid for i in items).items() if n > 1]
    if still:
        raise pytest.UsageError(f"tests share an id, xdist would run one of each: {still}")


def _postgres_required() -> bool:
    return (
        os.environ.get("CI", "").strip().lower() == "true"
        or os.environ.get("SITERISK_REQUIRE_POSTGRES", "").strip() == "1"
    )


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The URL of the test server's maintenance database (a superuser, trusted)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    url = os.environ.get(PG_URL_VARIABLE, "").strip()
    if not url:
        how = f"export {PG_URL_VARIABLE}=$(scripts/pg-test-server start), or run 'make unit'"
        if _postgres_required():
            pytest.fail(
                f"{PG_URL_VARIABLE} is not set but PostgreSQL is required: {how}", pytrace=False
            )
        pytest.skip(f"no PostgreSQL: {how}")
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        pytest.fail(
            f"{PG_URL_VARIABLE} is set but the server does not answer: {exc}", pytrace=False
        )
    finally:
        engine.dispose()
    return url


class PgDatabases:
    """Makes uniquely named databases on the test server (so xdist workers and test
    modules never share one) and drops them again."""

    def __init__(self, admin_url: str, tag: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        self._url = make_url(admin_url)
        # CREATE/DROP DATABASE cannot run inside a transaction.
        self._admin = create_engine(self._url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._tag = re.sub(r"[^a-z0-9]+", "_", tag.lower())[:30]
        self._made: list[str] = []

    def create(self, template: str | None = None) -> str:
        """The URL of a new database: empty, or a copy of the database at ``template``
        (which must have no open connections)."""
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = f"t_{self._tag}_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        self._made.append(name)
        return self._url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self._made:
            self._made.remove(name)

    def drop_all(self) -> None:
        for name in list(self._made):
            self.drop(self._url.set(database=name).render_as_string(hide_password=False))
        self._admin.dispose()


@pytest.fixture(scope="module")
def pg_databases(pg_url: str, request: pytest.FixtureRequest) -> Iterator[PgDatabases]:
    """Databases for this test module; whatever is left is dropped after it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    databases = PgDatabases(pg_url, f"{worker}_{request.module.__name__.rsplit('.', 1)[-1]}")
    yield databases
    databases.drop_all()


@pytest.fixture
def pg_database(pg_databases: PgDatabases) -> Iterator[str]:
    """The URL of a new, empty database for one test, dropped after it."""
    url = pg_databases.create()
    yield url
    pg_databases.drop(url)
