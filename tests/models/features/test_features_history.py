"""What a target may read of its site's past (``models/features/history.py``), on rows
small enough to work out by hand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.features.arithmetic import DEPTH, LAST_COLUMNS, WINDOW_COLUMNS
from models.features.history import COLUMNS, History

I = np.int64  # noqa: E741


def _history(
    rows: list[tuple[int, int, float]], claims: Sequence[tuple[int, int, float]] = ()
) -> History:
    """Rows (site, month, worker_hours; every other column 1.0 times the month) and
    claims (site, month, serious)."""
    entity = np.array([r[0] for r in rows], dtype=I)
    month = np.array([r[1] for r in rows], dtype=I)
    columns = {c: month.astype(float) for c in COLUMNS}
    columns["worker_hours"] = np.array([r[2] for r in rows], dtype=float)
    return History(
        entity,
        month,
        columns,
        np.array([c[0] for c in claims], dtype=I),
        np.array([c[1] for c in claims], dtype=I),
        np.array([c[2] for c in claims], dtype=float),
    )


def _window(h: History, entity: int, month: int, column: str) -> list[float]:
    past = h.past(np.array([entity], dtype=I), np.array([month], dtype=I))
    return [float(v) for v in past.window[WINDOW_COLUMNS.index(column), 0]]


def test_the_window_reads_the_months_before_the_target_with_gaps_as_not_reported() -> None:
    # site 0 reports months 100, 101, 103 (102 missing); site 1 reports 102
    h = _history([(0, 103, 3.0), (0, 100, 1.0), (1, 102, 9.0), (0, 101, 2.0)])
    got = _window(h, 0, 104, "worker_hours")
    assert len(got) == DEPTH
    assert (got[0], got[2], got[3]) == (3.0, 2.0, 1.0)  # months 103, 101, 100
    assert np.isnan(got[1])  # month 102: site 1's row is not site 0's
    assert all(np.isnan(v) for v in got[4:])  # before the first row
    # the target month itself and later months are never read
    assert _window(h, 0, 101, "worker_hours")[0] == 1.0
    assert np.isnan(_window(h, 0, 100, "worker_hours")).all()


def test_totals_restart_per_site_and_read_only_months_before_the_target() -> None:
    h = _history(
        [(0, 100, 1.5), (0, 101, 2.5), (1, 100, 100.0), (0, 102, np.nan)],
        claims=[(0, 99, 1.0), (0, 101, 0.0), (0, 102, 1.0), (1, 100, 1.0)],
    )
    past = h.past(np.array([0, 0, 1], dtype=I), np.array([102, 101, 103], dtype=I))
    assert past.months_of_history.tolist() == [2.0, 1.0, 1.0]
    assert past.worker_hours.tolist() == [4.0, 1.5, 100.0]
    # claims with an incident month before the target month, older than any row too
    assert past.claims.tolist() == [2.0, 1.0, 1.0]
    assert past.serious_claims.tolist() == [1.0, 1.0, 1.0]
    assert past.months_since_data.tolist() == [1.0, 1.0, 3.0]


def test_a_site_without_rows_before_the_target_reads_nothing() -> None:
    h = _history([(0, 110, 5.0)], claims=[(0, 105, 1.0)])
    past = h.past(np.array([0, 1], dtype=I), np.array([110, 120], dtype=I))
    assert past.months_of_history.tolist() == [0.0, 0.0]
    assert past.worker_hours.tolist() == [0.0, 0.0]
    assert np.isnan(past.months_since_data).all()
    assert past.claims.tolist() == [1.0, 0.0]  # a claim before works start still counts
    assert np.isnan(past.window).all()
    for c in LAST_COLUMNS:
        assert np.isnan(past.last[c]).all()


def test_of_two_rows_of_one_site_and_month_the_later_wins_and_other_sites_are_dropped() -> None:
    h = History(
        np.array([0, -1, 0], dtype=I),
        np.array([100, 100, 100], dtype=I),
        {c: np.array([1.0, 7.0, 2.0]) for c in COLUMNS},
        np.zeros(0, dtype=I),
        np.zeros(0, dtype=I),
        np.zeros(0),
    )
    past = h.past(np.array([0], dtype=I), np.array([101], dtype=I))
    assert past.months_of_history.tolist() == [1.0]
    assert past.worker_hours.tolist() == [2.0]
    assert h.current("worker_hours", np.array([0], dtype=I), np.array([100], dtype=I)).tolist() == [
        2.0
    ]


def test_the_latest_reported_value_skips_months_not_reported() -> None:
    (column,) = LAST_COLUMNS
    rows = [(0, 100, 1.0), (0, 101, 1.0), (0, 102, 1.0)]
    h = History(
        np.array([0, 0, 0], dtype=I),
        np.array([r[1] for r in rows], dtype=I),
        {
            **{c: np.ones(3) for c in COLUMNS},
            column: np.array([2.0, 3.0, np.nan]),
        },
        np.zeros(0, dtype=I),
        np.zeros(0, dtype=I),
        np.zeros(0),
    )
    past = h.past(np.array([0, 0, 0], dtype=I), np.array([103, 102, 100], dtype=I))
    assert past.last[column][:2].tolist() == [3.0, 3.0]
    assert np.isnan(past.last[column][2])
