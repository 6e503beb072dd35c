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
from collections.abc import Callable
from typing import Final

from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from service.db.engine import Database
from service.leader_groups import LeaderGroups, Waiter

log = logging.getLogger(__name__)

Write = Callable[[Session], None]

# Callers per group: a bound on one transaction's size (a caller may bring a whole
# portfolio), so a long queue commits in several groups rather than one huge one.
MAX_GROUP: Final = 64


def commit_alone(session: Session, write: Write) -> None:
    """``write`` in ``session``, committed: the transaction of one caller."""
    try:
        write(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise


class _Pending(Waiter):
    """One caller's write and, once a leader is done with it, its outcome."""

    __slots__ = ("session", "write")

    def __init__(self, session: Session, write: Write) -> None:
        super().__init__()
        self.session = session
        self.write = write


class GroupCommitter(LeaderGroups[_Pending]):
    """Commits the writes of concurrent callers together, one group at a time.

    There is no writer thread (:mod:`service.leader_groups`): the caller that finds
    nobody committing commits, in its own thread and its own session, everything queued
    (at first only its own write); callers arriving meanwhile queue and wait. When the
    group has committed, the first of them is woken to commit the next group in its
    session, the others of the group are woken with its outcome. So a lone write is
    committed at once, by its own thread in its own session and connection, exactly as
    without groups, and a group needs no connection of its own.

    A caller's session must hold no changes but its write's: a caller whose write is
    committed by another's session leaves them uncommitted. Sessions must not share a
    connection (an in-memory SQLite database's do: commit alone there). :meth:`close`
    waits for the group being committed; writes after it are committed alone.

    ``transactions`` and ``commits`` count the groups' transactions (a group that failed
    and each of its writes retried alone included) and those that committed.
    """

    def __init__(self, *, max_group: int = MAX_GROUP) -> None:
        super().__init__(max_group=max_group)
        self._closed = False
        self.transactions = 0
        self.commits = 0

    def commit(self, session: Session, write: Write) -> None:
        """Return once ``write`` is committed, with the writes queued meanwhile (in
        ``session`` or another caller's); raise what ``write``'s own transaction raised
        when it failed alone, having stored nothing."""
        if not self._join(_Pending(session, write)):
            commit_alone(session, write)

    def _accepting(self) -> bool:
        return not self._closed

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def close(self, timeout: float | None = None) -> None:
        """Wait until what is queued is committed (the app's shutdown); later writes
        are committed alone, in their callers' sessions."""
        with self._lock:
            self._closed = True
            self._wait_idle(timeout)

    # -- the leader ----------------------------------------------------------------------
    def _do_group(self, group: list[_Pending]) -> None:
        # the leader's session: the leader is first in its group
        session = group[0].session
        if len(group) > 1:
            self.transactions += 1
            try:
                for pending in group:
                    pending.write(session)
                session.commit()
            except Exception:
                session.rollback()
                # Which write failed is not known (the error may come from the flush at
                # commit): retry each alone below, so only the failing ones fail.
                log.debug("a group of %d writes failed; committing each alone", len(group))
            else:
                self.commits += 1
                for pending in group:
                    pending.done = True
                return
        for pending in group:
            self._commit_one(session, pending)

    def _commit_one(self, session: Session, pending: _Pending) -> None:
        self.transactions += 1
        try:
            commit_alone(session, pending.write)
        except Exception as exc:
            pending.error = exc
        else:
            self.commits += 1
        pending.done = True


def group_committer(database: Database) -> GroupCommitter | None:
    """A group committer for ``database``'s sessions, or None where sessions share one
    connection, so that one committing would commit the others' half-done work: an
    in-memory SQLite database (a ``StaticPool``)."""
    if isinstance(database.engine.pool, StaticPool):
        return None
    return GroupCommitter()
