"""service.db.group_commit: concurrent writes share one commit, each caller returns
only once its rows are committed, a failing write fails alone, nothing answered is lost
when the process is killed; on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from service.db.engine import Database
from service.db.group_commit import GroupCommitter, Write, group_committer

METADATA = MetaData()
ITEM = Table(
    "gc_item",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("caller", String(32), nullable=False),
)
CALLERS = 12


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gc.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    database = Database(url)
    METADATA.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def commits(database: Database) -> list[int]:
    """One entry per COMMIT the database's engine sends."""
    seen: list[int] = []
    event.listen(database.engine, "commit", lambda _conn: seen.append(1))
    return seen


def _rows(url: str) -> dict[int, str]:
    """The committed rows, read through a connection of a new engine."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {int(i): str(c) for i, c in connection.execute(ITEM.select()).all()}
    finally:
        engine.dispose()


def _insert(*ids: int, caller: str = "c") -> Write:
    def write(session: Session) -> None:
        session.execute(insert(ITEM), [{"id": i, "caller": caller} for i in ids])

    return write


def _commit(committer: GroupCommitter, database: Database, write: Write) -> None:
    """What a request does: commit its write from a session of its own."""
    with database.session() as session:
        committer.commit(session, write)


class _Held:
    """A first write that holds its group until released, so the writes submitted
    meanwhile queue up and form the next group (no timing involved)."""

    def __init__(self, committer: GroupCommitter, database: Database, row_id: int) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.committer = committer
        inner = _insert(row_id, caller="held")

        def write(session: Session) -> None:
            self.started.set()
            assert self.release.wait(30)
            inner(session)

        self.thread = threading.Thread(target=_commit, args=(committer, database, write))
        self.thread.start()
        assert self.started.wait(30)

    def release_when_queued(self, n: int) -> None:
        deadline = time.monotonic() + 30
        while self.committer.waiting < n:  # a wait for the other threads, not a measure
            assert time.monotonic() < deadline, f"{self.committer.waiting} of {n} queued"
            time.sleep(0.001)
        self.release.set()
        self.thread.join(30)


def _callers(
    committer: GroupCommitter,
    database: Database,
    writes: dict[int, Write],
    after: Callable[[int], Any],
) -> tuple[list[threading.Thread], dict[int, BaseException | None], dict[int, Any]]:
    """A thread per write: commit it, then record ``after(i)`` (or the error)."""
    errors: dict[int, BaseException | None] = {}
    seen: dict[int, Any] = {}

    def run(i: int) -> None:
        try:
            _commit(committer, database, writes[i])
        except Exception as exc:
            errors[i] = exc
            return
        errors[i] = None
        seen[i] = after(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in writes]
    for thread in threads:
        thread.start()
    return threads, errors, seen


def test_concurrent_writes_share_a_commit_and_return_once_visible(
    database: Database, commits: list[int]
) -> None:
    committer = GroupCommitter()
    held = _Held(committer, database, 0)
    writes = {i: _insert(i, 100 + i, caller=f"c{i}") for i in range(1, CALLERS + 1)}
    # Each caller, once answered, looks for its rows from a connection of its own.
    threads, errors, seen = _callers(
        committer, database, writes, lambda i: {i, 100 + i} <= _rows(database.url).keys()
    )
    held.release_when_queued(CALLERS)
    for thread in threads:
        thread.join(30)
    committer.close()
    assert errors == dict.fromkeys(writes)
    assert seen == dict.fromkeys(writes, True)
    # the held write alone, then the twelve that queued behind it together
    assert len(commits) == 2
    assert (committer.transactions, committer.commits) == (2, 2)
    assert len(_rows(database.url)) == 1 + 2 * CALLERS


def test_a_failing_write_fails_alone_with_its_own_error(
    database: Database, commits: list[int]
) -> None:
    with database.session() as session:
        session.execute(insert(ITEM), [{"id": 7, "caller": "before"}])
        session.commit()
    commits.clear()
    committer = GroupCommitter()
    held = _Held(committer, database, 0)
    writes = {i: _insert(i, caller=f"c{i}") for i in range(1, CALLERS + 1) if i != 7}
    writes[7] = _insert(1007, 7, caller="dup")  # a new row, then one that exists
    threads, errors, _ = _callers(committer, database, writes, lambda i: None)
    held.release_when_queued(CALLERS)
    for thread in threads:
        thread.join(30)
    committer.close()
    assert isinstance(errors.pop(7), IntegrityError)
    assert set(errors.values()) == {None}
    rows = _rows(database.url)
    assert rows[7] == "before"
    assert 1007 not in rows  # the failing write stored nothing
    assert {i for i in writes if i != 7} <= rows.keys()
    # the held write; the group failed, so each of the others committed alone
    assert len(commits) == 1 + (CALLERS - 1)


def test_close_commits_what_is_queued_and_later_writes_commit_alone(
    database: Database,
) -> None:
    committer = GroupCommitter()
    held = _Held(committer, database, 0)
    threads, errors, _ = _callers(
        committer, database, {1: _insert(1), 2: _insert(2)}, lambda i: None
    )
    while committer.waiting < 2:
        time.sleep(0.001)
    closing = threading.Thread(target=committer.close)
    closing.start()
    held.release_when_queued(2)
    closing.join(30)
    assert not closing.is_alive()
    assert set(_rows(database.url)) == {0, 1, 2}  # all queued was committed by then
    for thread in threads:
        thread.join(30)
    assert errors == {1: None, 2: None}
    assert committer.closed
    counted = committer.transactions
    _commit(committer, database, _insert(3))  # alone, in the caller's session
    assert committer.transactions == counted
    assert set(_rows(database.url)) == {0, 1, 2, 3}


def test_an_in_memory_database_gets_no_writer() -> None:
    """Its one shared connection cannot be the writer's alone."""
    memory = Database("sqlite://")
    assert group_committer(memory) is None
    memory.dispose()


KILLED_AFTER_ANSWERING = textwrap.dedent(
    """
    import os, signal, sys, threading
    from sqlalchemy import insert
    sys.path.insert(0, sys.argv[2])
    from test_group_commit import ITEM, METADATA
    from service.db.engine import Database
    from service.db.group_commit import GroupCommitter

    database = Database(sys.argv[1])
    METADATA.create_all(database.engine)
    committer = GroupCommitter()
    out = threading.Lock()

    def save(i):
        with database.session() as session:
            committer.commit(
                session, lambda s: s.execute(insert(ITEM), [{"id": i, "caller": "killed"}])
            )
        with out:  # answered
            sys.stdout.write(f"{i}\\n")
            sys.stdout.flush()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_what_was_answered_survives_a_kill(tmp_path: Path) -> None:
    """A worker killed right after answering (no shutdown, no checkpoint, SQLite WAL with
    synchronous=NORMAL as the service runs it) has every answered row on disk."""
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_ANSWERING, url, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[3],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    answered = {int(line) for line in done.stdout.split()}
    assert answered == set(range(40))
    assert set(_rows(url)) == answered
