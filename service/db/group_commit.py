"""Group commit: the writes of concurrent requests committed together (issue 21).

Each request used to pay a commit of its own: an fsync-free but still costly WAL append
and lock hand-over on SQLite (where writers of all worker processes queue for one
lock), a round trip and a WAL flush on PostgreSQL. Here one writer thread per process
takes every write queued while it was busy, runs them all in one transaction and
commits once; each caller blocks until the commit that holds its rows has returned, so
an answer still means committed and a worker killed after answering loses nothing.

Nothing waits for company: a lone write is committed at once, alone. Groups form only
because callers arrive while the writer commits the previous group, so grouping grows
with load and adds no latency without it.

If a group's transaction fails, each of its writes is retried alone in a transaction of
its own, and only the writes that fail alone report an error (the exception their own
transaction raised), so one bad request (a duplicate key, say) never fails the others.
A write is a function of a :class:`~sqlmodel.Session` that adds rows and does not
commit; it may be run twice (in a group, then alone), so it must build its rows anew
each time and have no other effect.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from service.db.engine import Database

log = logging.getLogger(__name__)

Write = Callable[[Session], None]

# Callers per group: a bound on one transaction's size (a caller may bring a whole
# portfolio), so a long queue commits in several groups rather than one huge one.
MAX_GROUP: Final = 64


class Committer(Protocol):
    def commit(self, write: Write) -> None:
        """Run ``write`` in a transaction and return once it is committed; raise what
        the transaction raised, having stored nothing, if it failed."""


def commit_alone(session: Session, write: Write) -> None:
    """``write`` in ``session``, committed: the transaction of one caller."""
    try:
        write(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise


class SessionCommitter:
    """Each write committed alone, in the caller's thread and session: what every
    write did before groups (tests, the command line, an in-memory database)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def commit(self, write: Write) -> None:
        commit_alone(self.session, write)


class _Pending:
    """One caller's write and, once the writer is done with it, its outcome."""

    __slots__ = ("done", "error", "write")

    def __init__(self, write: Write) -> None:
        self.write = write
        self.error: BaseException | None = None
        self.done = threading.Event()


class GroupCommitter:
    """One writer thread that commits the writes queued by concurrent callers together.

    ``sessions`` makes the writer's sessions (``Database.session``); they must not share
    a connection with the callers' (an in-memory SQLite database does: use
    :class:`SessionCommitter` there). The thread starts with the first write, not
    before, and again in a forked child, which inherits no threads. :meth:`close`
    commits what is queued and stops it; writes after that are committed alone in the
    caller's thread.

    ``transactions`` and ``commits`` count the writer's transactions and those that
    committed (for benchmarks; the engine's own events count them too).
    """

    def __init__(self, sessions: Callable[[], Session], *, max_group: int = MAX_GROUP) -> None:
        self._sessions = sessions
        self._max_group = max_group
        self._queue: deque[_Pending] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.transactions = 0
        self.commits = 0

    def commit(self, write: Write) -> None:
        """Queue ``write``, wait until the transaction holding it has committed; raise
        what ``write``'s own transaction raised when it failed alone."""
        pending = _Pending(write)
        with self._wake:
            queued = not self._closed
            if queued:
                self._ensure_writer()
                self._queue.append(pending)
                self._wake.notify()
        if not queued:
            with self._sessions() as session:
                commit_alone(session, write)
            return
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    @property
    def waiting(self) -> int:
        """Writes queued for the next group (not those being committed)."""
        with self._wake:
            return len(self._queue)

    @property
    def running(self) -> bool:
        """Whether this process's writer thread is running."""
        with self._wake:
            thread = self._thread if self._pid == os.getpid() else None
        return thread is not None and thread.is_alive()

    def close(self, timeout: float | None = None) -> None:
        """Commit whatever is queued, then stop the writer (the app's shutdown)."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None:
            thread.join(timeout)

    # -- the writer thread ---------------------------------------------------------------
    def _ensure_writer(self) -> None:
        """Start the writer (the lock is held) unless this process already runs one."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        if self._pid != os.getpid():
            # a forked child: what is queued belongs to the parent's callers, not to us
            self._queue.clear()
        self._pid = os.getpid()
        # A daemon: an interpreter that exits without close() must not hang on it; what
        # it had not committed was not answered either.
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:
                    return  # closed, and everything queued is committed
                group = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_group))
                ]
            try:
                self._commit_group(group)
            except BaseException as exc:  # never leave a caller waiting for ever
                for pending in group:
                    if not pending.done.is_set():
                        pending.error = exc
                        pending.done.set()
                if not isinstance(exc, Exception):
                    raise

    def _commit_group(self, group: list[_Pending]) -> None:
        if len(group) > 1:
            self.transactions += 1
            try:
                with self._sessions() as session:
                    for pending in group:
                        pending.write(session)
                    session.commit()
            except Exception:
                # Which write failed is not known (the error may come from the flush at
                # commit): retry each alone below, so only the failing ones fail.
                log.debug("a group of %d writes failed; committing each alone", len(group))
            else:
                self.commits += 1
                for pending in group:
                    pending.done.set()
                return
        for pending in group:
            self._commit_one(pending)

    def _commit_one(self, pending: _Pending) -> None:
        self.transactions += 1
        error: BaseException | None = None
        try:
            with self._sessions() as session:
                commit_alone(session, pending.write)
            self.commits += 1
        except BaseException as exc:
            error = exc
        pending.error = error
        pending.done.set()
        if error is not None and not isinstance(error, Exception):
            raise error


def group_committer(database: Database) -> GroupCommitter | None:
    """A group committer of ``database``'s sessions, or None where the writer could not
    have a connection of its own: an in-memory SQLite database is one connection that
    every session shares (a ``StaticPool``)."""
    if isinstance(database.engine.pool, StaticPool):
        return None
    return GroupCommitter(database.session)
