"""Concurrent callers' work done in groups, by one of the callers at a time (issue 21).

Grouped commits (:mod:`service.db.group_commit`) and grouped pricing
(:mod:`service.quotes.price_groups`) share this: there is no thread of its own. The
caller that finds nobody leading leads: it does, in its own thread, the group it heads
(at first only its own work); callers arriving meanwhile queue and wait. When the group
is done, the first caller still queued is woken to lead the next group and the group's
others are woken with their outcomes. So lone work is done at once, by its own thread,
exactly as without groups; groups form only under load, and a hand-over costs one
wake-up per waiting caller, not a round trip to a worker thread (both need the GIL,
which pricing threads hold for milliseconds at a time).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Generic, TypeVar


class Waiter:
    """One caller's place in the queue and, once a leader is done with it, whether it
    failed (subclasses add the work and its outcome)."""

    __slots__ = ("done", "error", "lead", "wake")

    def __init__(self) -> None:
        self.done = False  # done, or failed with ``error``
        self.error: BaseException | None = None
        self.lead = False  # woken to lead the next group itself
        self.wake = threading.Event()


W = TypeVar("W", bound=Waiter)


class LeaderGroups(Generic[W]):
    """The queue and the leader's turn; :meth:`_do_group` is the work of a group."""

    def __init__(self, *, max_group: int) -> None:
        self._max_group = max_group
        self._queue: deque[W] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._leading = False  # a caller is doing a group
        self._pid = os.getpid()

    def _join(self, waiter: W) -> bool:
        """Queue ``waiter`` and return once its work is done (re-raising its error),
        or return False at once, queueing nothing, when :meth:`_accepting` says no."""
        with self._lock:
            if self._pid != os.getpid():
                # a forked child: the queue and the leader are the parent's callers
                self._queue.clear()
                self._leading, self._pid = False, os.getpid()
            if not self._accepting():
                return False
            self._queue.append(waiter)
            waiter.lead = not self._leading
            self._leading = True
        if not waiter.lead:
            waiter.wake.wait()
        if waiter.lead:
            self._lead()
        if waiter.error is not None:
            raise waiter.error
        return True

    def _accepting(self) -> bool:
        """Whether new work joins the queue (called holding the lock)."""
        return True

    def _take(self) -> list[W]:
        """The next group, taken off the queue (called holding the lock): by default the
        first ``max_group`` callers queued; the leader is always the first."""
        count = min(len(self._queue), self._max_group)
        return [self._queue.popleft() for _ in range(count)]

    def _do_group(self, group: list[W]) -> None:
        """Do the group's work, marking each waiter done (or failed with its error)."""
        raise NotImplementedError

    @property
    def waiting(self) -> int:
        """Callers queued for a next group (not those being served)."""
        with self._lock:
            return len(self._queue)

    def _wait_idle(self, timeout: float | None) -> bool:
        """Wait until nobody leads (called holding the lock)."""
        return self._idle.wait_for(lambda: not self._leading, timeout)

    def _lead(self) -> None:
        """Do the group this caller heads; then make the first caller still queued the
        next leader, or stop leading."""
        with self._lock:
            group = self._take()
        try:
            self._do_group(group)
        except BaseException as exc:  # never leave a caller waiting for ever
            for waiter in group:
                if not waiter.done:
                    waiter.error, waiter.done = exc, True
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
            for waiter in group:
                waiter.wake.set()
