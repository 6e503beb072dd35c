"""Grouped pricing: the single quotes of concurrent requests priced in one call (issue 21).

:meth:`QuotePricer.price` works on arrays of sites, and much of a call's cost is paid
once per call, not per site: the feature frames, one prediction per booster, the rating
plan's arrays, TreeSHAP's set-up. Four single quotes priced in one call cost about
3.8 ms of CPU each against 6.2 ms priced one by one (docs/performance.md). So, as with
grouped commits (:mod:`service.db.group_commit`), one caller at a time per process
prices: it takes every request queued while the previous group was being priced that
has the same model snapshot and the same insurer's rate books, prices them in one call
and hands each its outcome. Nothing waits for company: a lone request is priced at
once, alone, in its own thread, exactly as without groups; groups form only under load.

Each item's numbers are its own: every step of pricing is row by row, so a quote priced
in a group equals the same request priced alone (a test holds them equal, byte for
byte). A group is priced under the latest of its members' deadlines and each member then
checks its own, so a request past its deadline still gets its 503 and stores nothing.
If the call raises anything else, each member is priced again alone, so one request's
failure never fails the others.
"""

from __future__ import annotations

from typing import Final

from service.leader_groups import LeaderGroups, Waiter
from service.limits import Deadline
from service.model_provider import ModelSnapshot
from service.quotes.intake import Item
from service.quotes.pricing_service import BookSource, Outcome, QuotePricer

# Requests per call: a bound on how long the first of a group waits for the last.
MAX_GROUP: Final = 16


class _Pending(Waiter):
    """One request's item and, once a leader has priced it, its outcome."""

    __slots__ = ("books", "books_key", "deadline", "item", "outcome", "snapshot")

    def __init__(
        self,
        item: Item,
        snapshot: ModelSnapshot,
        deadline: Deadline,
        books: BookSource | None,
        books_key: str | None,
    ) -> None:
        super().__init__()
        self.item = item
        self.snapshot = snapshot
        self.deadline = deadline
        self.books = books
        self.books_key = books_key
        self.outcome: Outcome | None = None

    def joins(self, head: _Pending) -> bool:
        """Whether this request may be priced in ``head``'s call: the same model and the
        same insurer's books (an item's book is looked up by its start month)."""
        return self.snapshot is head.snapshot and self.books_key == head.books_key


class PriceGroups(LeaderGroups[_Pending]):
    """Prices the single quotes of concurrent callers together, one group at a time.

    There is no pricing thread (:mod:`service.leader_groups`): the caller that finds
    nobody pricing prices, in its own thread, every queued request that can share its
    call (at first only its own); callers arriving meanwhile queue and wait. When the
    group is priced, the first caller still queued is woken to price the next group, and
    the group's others are woken with their outcomes. A leader's ``books`` (which read
    the leader's database session) price its whole group: they belong to the same
    insurer.

    ``calls`` and ``priced`` count the pricer's calls and the requests they priced.
    """

    def __init__(self, pricer: QuotePricer, *, max_group: int = MAX_GROUP) -> None:
        super().__init__(max_group=max_group)
        self.pricer = pricer
        self.calls = 0
        self.priced = 0

    def price(
        self,
        item: Item,
        snapshot: ModelSnapshot,
        *,
        deadline: Deadline,
        books: BookSource | None = None,
        books_key: str | None = None,
    ) -> Outcome:
        """``item``'s outcome, as ``pricer.price([item], snapshot, ...)`` gives it;
        ``books_key`` names whose rate books ``books`` reads (None: the shipped rules)."""
        pending = _Pending(item, snapshot, deadline, books, books_key)
        self._join(pending)
        deadline.check("pricing")  # a group may have been priced under a later deadline
        assert pending.outcome is not None
        return pending.outcome

    # -- the leader ----------------------------------------------------------------------
    def _take(self) -> list[_Pending]:
        """The requests that can share the call of the first queued, in their order."""
        head = self._queue[0]
        group = [p for p in self._queue if p.joins(head)][: self._max_group]
        for pending in group:
            self._queue.remove(pending)
        return group

    def _do_group(self, group: list[_Pending]) -> None:
        head = group[0]
        if len(group) > 1:
            latest = max((p.deadline for p in group), key=lambda d: d.at)
            self.calls += 1
            try:
                outcomes = self.pricer.price(
                    [p.item for p in group], head.snapshot, deadline=latest, books=head.books
                )
            except Exception:
                # whose item made the call fail is not known: price each alone below
                pass
            else:
                self.priced += len(group)
                for pending, outcome in zip(group, outcomes, strict=True):
                    pending.outcome, pending.done = outcome, True
                return
        for pending in group:
            self._price_alone(pending, head.books)

    def _price_alone(self, pending: _Pending, books: BookSource | None) -> None:
        self.calls += 1
        try:
            (pending.outcome,) = self.pricer.price(
                [pending.item], pending.snapshot, deadline=pending.deadline, books=books
            )
        except Exception as exc:
            pending.error = exc
        else:
            self.priced += 1
        pending.done = True
