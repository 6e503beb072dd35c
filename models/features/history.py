"""Sites' months and claims, laid out once, and what each target may read of them.

:class:`History` holds the ``site_months`` rows and claims of a set of sites (entities
``0 .. n-1``), sorted by site and month. :meth:`History.past` gathers, for any targets
(site, month), what :func:`models.features.arithmetic.compute` reads: the trailing
months as a window, and totals over every month before the target. ``build.py``
builds one from a folder's frames, ``single.py`` from a quote's rows; both gather
through this one class, so a site's past is the same numbers either way.

Only data before the target month is ever read: rows of earlier months, claims with an
incident month before it. Totals restart for every site, so one site's data never
shifts another's value, not even by a rounding step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from models.features.arithmetic import DEPTH, LAST_COLUMNS, WINDOW_COLUMNS, Past

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Month numbers (year * 12 + month - 1) stay far below this, so (site, month) packs
# into one sortable integer.
_SPAN = np.int64(1 << 20)
# the target month itself (0), then 1 .. DEPTH months before it
_BACK = np.arange(DEPTH + 1, dtype=np.int64)
# The window's columns first, in its order, so that its rows are the table's first ones.
COLUMNS = (*WINDOW_COLUMNS, *sorted(set(LAST_COLUMNS) - set(WINDOW_COLUMNS)))
_ROW = {name: i for i, name in enumerate(COLUMNS)}
_WINDOW_ROWS = len(WINDOW_COLUMNS)


def _key(entity: I64, month: I64) -> I64:
    return np.asarray(entity, dtype=np.int64) * _SPAN + np.asarray(month, dtype=np.int64)


class History:
    """Rows of ``site_months`` (``entity``, ``month``, ``columns`` by row or as one table
    of a row per :data:`COLUMNS`; stage and other categories as positions) and claims
    (``claim_entity``, ``claim_month``, ``claim_serious`` 0/1) of sites ``0 .. n-1``;
    entity -1 marks rows of other sites. Rows may come in any order; of two rows of one
    site and month the later wins."""

    def __init__(
        self,
        entity: I64,
        month: I64,
        columns: Mapping[str, F64] | F64,
        claim_entity: I64,
        claim_month: I64,
        claim_serious: F64,
    ) -> None:
        keep = np.asarray(entity) >= 0
        key = _key(entity, month)
        order: npt.NDArray[np.intp] | None = None
        if not (keep.all() and (len(key) < 2 or bool((key[1:] > key[:-1]).all()))):
            order = np.flatnonzero(keep)
            order = order[np.argsort(key[order], kind="stable")]
            sorted_key = key[order]
            last_of_key = np.append(sorted_key[1:] != sorted_key[:-1], True)[: len(sorted_key)]
            order = order[last_of_key]
            key = key[order]
        self.key = key
        self.month = key % _SPAN
        # One row per column, and a trailing NaN: a gather at row -1 (no row that month)
        # reads "not reported".
        self.table = np.empty((len(COLUMNS), len(key) + 1), dtype=np.float64)
        self.table[:, -1] = np.nan
        if isinstance(columns, np.ndarray):  # a table already, one row per COLUMNS
            self.table[:, :-1] = columns if order is None else columns[:, order]
        else:
            for i, name in enumerate(COLUMNS):
                values = np.asarray(columns[name], dtype=np.float64)
                self.table[i, :-1] = values if order is None else values[order]
        self._running_hours = self._running(self.table[_ROW["worker_hours"], :-1])
        self._latest = {c: self._latest_reported(self.table[_ROW[c], :-1]) for c in LAST_COLUMNS}

        known = np.asarray(claim_entity) >= 0
        claim_key = _key(claim_entity, claim_month)[known]
        by_key = np.argsort(claim_key, kind="stable")
        self.claim_key = claim_key[by_key]
        serious = np.asarray(claim_serious, dtype=np.float64)[known][by_key]
        self._serious = np.concatenate(([0.0], np.cumsum(serious)))

    def _running(self, values: F64) -> F64:
        """Running sum (NaN as 0) within each site, from its first row: each site gets
        a row of a zero-padded grid, so the sums restart per site."""
        if len(values) == 0:
            return values.copy()
        site = self.key // _SPAN
        new = np.empty(len(site), dtype=bool)
        new[0] = True
        np.not_equal(site[1:], site[:-1], out=new[1:])
        which = np.cumsum(new) - 1
        pos = np.arange(len(values)) - np.flatnonzero(new)[which]
        grid = np.zeros((int(which[-1]) + 1, int(pos.max()) + 1))
        grid[which, pos] = np.where(np.isnan(values), 0.0, values)
        np.cumsum(grid, axis=1, out=grid)
        return np.asarray(grid[which, pos], dtype=np.float64)

    @staticmethod
    def _latest_reported(values: F64) -> I64:
        present = ~np.isnan(values)
        return np.maximum.accumulate(np.where(present, np.arange(len(values)), -1))

    def past(self, entity: I64, month: I64, *, window: bool = True) -> Past:
        """What the targets (``entity``, ``month``) may read: rows of months before
        ``month`` of site ``entity``, claims with an incident month before it. Without
        ``window``, only the totals (the window is left empty)."""
        entity = np.asarray(entity, dtype=np.int64)
        month = np.asarray(month, dtype=np.int64)
        # per target: its site's first row, one past its last row before the month, and
        # the rows of the DEPTH months before it (found or not)
        target = _key(entity, month)
        depth = DEPTH if window else 0
        keys = np.empty((len(entity), depth + 2), dtype=np.int64)
        keys[:, 0] = entity * _SPAN
        keys[:, 1:] = target[:, None] - _BACK[: depth + 1]
        at = np.searchsorted(self.key, keys)
        first, end = at[:, 0], at[:, 1]
        count = end - first
        seen = count > 0
        back = at[:, 2:]
        hit = self._key_at(back) == keys[:, 2:]
        rows = np.where(hit, back, -1)
        months = np.take(self.table[: _WINDOW_ROWS if window else 0], rows, axis=1)

        last = np.where(seen, end - 1, -1)
        latest = {}
        for c in LAST_COLUMNS:
            index = np.where(seen, self._latest[c][last], -1) if len(self.key) else last
            index = np.where(index >= first, index, -1)
            latest[c] = self.table[_ROW[c], index]
        hours = np.where(seen, self._running_hours[last], 0.0) if len(self.key) else last * 0.0
        since = np.where(seen, month - self._month_at(last), np.nan)

        claims = np.searchsorted(self.claim_key, keys[:, :2])
        c_first, c_end = claims[:, 0], claims[:, 1]
        return Past(
            window=months,
            months_of_history=count.astype(np.float64),
            months_since_data=since.astype(np.float64),
            last=latest,
            claims=(c_end - c_first).astype(np.float64),
            serious_claims=self._serious[c_end] - self._serious[c_first],
            worker_hours=np.asarray(hours, dtype=np.float64),
        )

    def _key_at(self, index: I64) -> I64:
        """The key at each row index, -1 past the end."""
        padded = np.append(self.key, -1)
        return padded[np.minimum(index, len(self.key))]

    def _month_at(self, index: I64) -> I64:
        padded = np.append(self.month, 0)
        return padded[np.where(index >= 0, index, len(self.month))]

    def current(self, column: str, entity: I64, month: I64) -> F64:
        """``column`` in the target month itself (NaN: no row), e.g. its exposure."""
        key = _key(entity, month)
        at = np.searchsorted(self.key, key)
        hit = at < len(self.key)
        hit[hit] = self.key[at[hit]] == key[hit]
        return np.asarray(self.table[_ROW[column], np.where(hit, at, -1)], dtype=np.float64)
