"""Group commit: the writes of concurrent requests committed together (issue 21).

Each request used to pay a commit of its own: an fsync-free but still costly WAL append
and lock hand-over on SQLite (where writers of all worker processes queue for one
lock), a round trip and a WAL flush on PostgreSQL. Here one caller at a time per
process commits: it takes every write queued while the previous group was committing,
runs them all in one transaction and commits once; each caller blocks until the commit
that holds its rows has returned, so an answer still means committed and a worker
killed after answering loses nothing.

Nothing waits for company: a lone write is committed at once, alone, in its caller's
thread. Groups form only because callers arrive while the previous group commits, so
grouping grows with load and adds no latency without it.

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
    """One caller's write and, once a leader is done with it, its outcome."""

    __slots__ = ("done", "error", "lead", "wake", "write")

    def __init__(self, write: Write) -> None:
        self.write = write
        self.done = False  # committed, or failed with ``error``
        self.error: BaseException | None = None
        self.lead = False  # woken to commit the next group itself
        self.wake = threading.Event()


class GroupCommitter:
    """Commits the writes of concurrent callers together, one group at a time.

    There is no writer thread: the caller that finds nobody committing commits, in its
    own thread, everything queued (at first only its own write); callers arriving
    meanwhile queue and wait. When the group has committed, the first of them is woken
    to commit the next group, the others of the group are woken with its outcome. So a
    lone write is committed at once by its own thread, exactly as without groups, and
    under load each commit costs one wake-up per waiting caller, not a hand-over to a
    writer thread and back (both need the GIL, which pricing threads hold for
    milliseconds at a time).

    ``sessions`` makes the sessions groups are committed in (``Database.session``); they
    must not share a connection with the callers' (an in-memory SQLite database does:
    use :class:`SessionCommitter` there). :meth:`close` waits for the group being
    committed; writes after it are committed alone.

    ``transactions`` and ``commits`` count the groups' transactions (a group that failed
    and each of its writes retried alone included) and those that committed.
    """

    def __init__(self, sessions: Callable[[], Session], *, max_group: int = MAX_GROUP) -> None:
        self._sessions = sessions
        self._max_group = max_group
        self._queue: deque[_Pending] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._leading = False  # a caller is committing a group
        self._closed = False
        self._pid = os.getpid()
        self.transactions = 0
        self.commits = 0

    def commit(self, write: Write) -> None:
        """Return once ``write`` is committed, with the writes queued meanwhile; raise
        what ``write``'s own transaction raised when it failed alone."""
        pending = _Pending(write)
        with self._lock:
            if self._pid != os.getpid():
                # a forked child: the queue and the leader are the parent's callers
                self._queue.clear()
                self._leading, self._pid = False, os.getpid()
            alone = self._closed
            if not alone:
                self._queue.append(pending)
                pending.lead = not self._leading
                self._leading = True
        if alone:
            with self._sessions() as session:
                commit_alone(session, write)
            return
        if not pending.lead:
            pending.wake.wait()
        if pending.lead:
            self._lead()
        if pending.error is not None:
            raise pending.error

    @property
    def waiting(self) -> int:
        """Writes queued for the next group (not those being committed)."""
        with self._lock:
            return len(self._queue)

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def close(self, timeout: float | None = None) -> None:
        """Wait until what is queued is committed (the app's shutdown); later writes
        are committed alone, in their callers' sessions."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: not self._leading, timeout)

    # -- the leader ----------------------------------------------------------------------
    def _lead(self) -> None:
        """Commit the queued writes, this caller's first among them, as one group; then
        make the first caller queued since the next leader, or stop leading."""
        with self._lock:
            group = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_group))]
        try:
            self._commit_group(group)
        except BaseException as exc:  # never leave a caller waiting for ever
            for pending in group:
                if not pending.done:
                    pending.error, pending.done = exc, True
            raise
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False
                    self._idle.notify_all()
            for pending in group:
                pending.wake.set()

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
                    pending.done = True
                return
        for pending in group:
            self._commit_one(pending)

    def _commit_one(self, pending: _Pending) -> None:
        self.transactions += 1
        try:
            with self._sessions() as session:
                commit_alone(session, pending.write)
        except Exception as exc:
            pending.error = exc
        else:
            self.commits += 1
        pending.done = True


def group_committer(database: Database) -> GroupCommitter | None:
    """A group committer of ``database``'s sessions, or None where the writer could not
    have a connection of its own: an in-memory SQLite database is one connection that
    every session shares (a ``StaticPool``)."""
    if isinstance(database.engine.pool, StaticPool):
        return None
    return GroupCommitter(database.session)
