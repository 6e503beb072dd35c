"""The arithmetic of every feature, once, for any number of targets.

Whatever the front end (a folder's frames in ``build.py``, a quote's rows in
``single.py``), the data a target's features read is first gathered into
:class:`Past` (its site's months before the target, by :mod:`models.features.history`)
and :class:`SiteFacts` (the site's attributes), and the contractor's
:class:`~models.features.contractor.Record`. :func:`compute` turns those into
feature values over all targets at once: every windowed feature as a numerator and a
denominator summed over the window, in one running sum and one division; every other
feature as numerator / denominator x scale, in one more. One quote, a what-if batch, a
portfolio and a training set run the very same operations, so they agree by
construction.

Trailing windows are cumulative sums along the window axis, left (the month before
the target) to right (``DEPTH`` months before): a window of ``w`` months reads the
sum at position ``w - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from models.contract import spec
from models.features.contractor import Record, contractor_terms
from models.features.definition import (
    CATEGORIES,
    FEATURE_NAMES,
    MONTH_DAYS,
    PER_10K,
    RECIPES,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_EPOCH_MONTH: Final = 1970 * 12
_WINDOWED: Final = ("count_rate", "count_rate_online", "unrectified_rate", "mean", "reported_share")

# The monthly columns a window reads, in the order of ``Past.window``'s first axis.
WINDOW_COLUMNS: Final[tuple[str, ...]] = tuple(
    sorted(
        {c for r in RECIPES.values() if r.kind in _WINDOWED for c in r.columns}
        | {"worker_hours", "device_online_rate"}
    )
)
DEPTH: Final = max((r.window or 0) for r in RECIPES.values())
# The monthly columns read as their latest reported value (``last``).
LAST_COLUMNS: Final[tuple[str, ...]] = tuple(
    sorted({r.columns[0] for r in RECIPES.values() if r.kind == "last"})
)
# The sites columns the features read (categorical ones as their position in
# ``CATEGORIES``; the calendar's dates separately, in ``SiteFacts``).
SITE_COLUMNS: Final[tuple[str, ...]] = tuple(
    sorted({r.columns[0] for r in RECIPES.values() if r.kind in ("site", "log_site")})
)
# Of which categorical: column -> its categories.
SITE_CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    r.columns[0]: CATEGORIES[name]
    for name, r in RECIPES.items()
    if r.kind == "site" and name in CATEGORIES
}
_COLUMN: Final = {name: i for i, name in enumerate(WINDOW_COLUMNS)}
_HOURS: Final = _COLUMN["worker_hours"]
_ONLINE: Final = _COLUMN["device_online_rate"]

assert all(c in {col.name for col in spec.SITE_MONTHS} for c in WINDOW_COLUMNS)


@dataclass(frozen=True)
class Past:
    """What ``n`` targets' sites did before each target month.

    ``window[c, t, j]`` is column ``WINDOW_COLUMNS[c]`` in the month ``j + 1`` months
    before target ``t`` (NaN: no row that month, or not reported); ``stage`` and other
    categorical columns are positions in their category list."""

    window: F64  # (len(WINDOW_COLUMNS), n, DEPTH)
    months_of_history: F64  # site_months rows before the target month
    months_since_data: F64  # months back to the latest of them (NaN: none)
    last: dict[str, F64]  # LAST_COLUMNS -> latest reported value before the month
    claims: F64  # the site's claims with an incident date before the month
    serious_claims: F64  # of which serious injury or fatality
    worker_hours: F64  # the site's worker-hours over all months before the target


@dataclass(frozen=True)
class SiteFacts:
    """The sites attributes of ``n`` targets' sites (NaN: not known)."""

    values: dict[str, F64]  # SITE_COLUMNS -> value (categorical: position)
    start_day: F64  # start_date, days since 1970-01-01
    end_day: F64  # planned_end_date, days since 1970-01-01


def month_first_day(months: I64) -> F64:
    """Days since 1970-01-01 of each month's first day (months as year * 12 + m - 1)."""
    first = (np.asarray(months, dtype=np.int64) - _EPOCH_MONTH).astype("datetime64[M]")
    return first.astype("datetime64[D]").astype(np.int64).astype(np.float64)


def _ratio(num: F64, den: F64) -> F64:
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class _Windows:
    """Every windowed feature as the window sum of a numerator over the window sum of a
    denominator, both rows of the window extended by derived rows (:func:`_extended`),
    each month counted only where both are reported:

    - counts per 10k worker-hours: the count over the hours, or over the online hours
      (hours x device online rate) for ``count_rate_online``;
    - unrectified hazards per 10k worker-hours: ``found x (1 - rectification rate)``,
      0 when nothing was found (whatever the rate), over the hours;
    - means: the value over 1 (a count of reported months);
    - reported shares: 1 where any of a family's columns was reported, else 0, over 1
      (calendar months).

    ``family`` lists each feature's (numerator, denominator) pair; ``depth`` its window
    - 1, ``out`` its output column, ``scale`` 1e4 or 1."""

    found: npt.NDArray[np.intp]  # unrectified pairs: found, rectification rate
    rectified: npt.NDArray[np.intp]
    share_columns: npt.NDArray[np.intp]  # every share family's columns, one after another
    share_starts: npt.NDArray[np.intp]  # where each family's columns start
    numerator: npt.NDArray[np.intp]  # per pair, a row of the extended window
    denominator: npt.NDArray[np.intp]
    family: npt.NDArray[np.intp]
    depth: npt.NDArray[np.intp]
    out: npt.NDArray[np.intp]
    scale: F64


def _windows() -> _Windows:
    families: dict[tuple[str, tuple[str, ...]], list[tuple[int, int]]] = {}
    for i, name in enumerate(FEATURE_NAMES):
        r = RECIPES[name]
        if r.window is not None:
            families.setdefault((r.kind, r.columns), []).append((r.window, i))
    unrectified = [cols for kind, cols in families if kind == "unrectified_rate"]
    shares = [cols for kind, cols in families if kind == "reported_share"]
    # extended rows after the window's own: online hours, one row per unrectified pair,
    # one per share family, then ones
    c = len(WINDOW_COLUMNS)
    online = c
    first_open = c + 1
    first_share = first_open + len(unrectified)
    ones = first_share + len(shares)
    pairs: list[tuple[int, int]] = []
    for kind, cols in families:
        if kind == "count_rate":
            pairs.append((_COLUMN[cols[0]], _HOURS))
        elif kind == "count_rate_online":
            pairs.append((_COLUMN[cols[0]], online))
        elif kind == "unrectified_rate":
            pairs.append((first_open + unrectified.index(cols), _HOURS))
        elif kind == "mean":
            pairs.append((_COLUMN[cols[0]], ones))
        elif kind == "reported_share":
            pairs.append((first_share + shares.index(cols), ones))
        else:  # pragma: no cover - definition.RecipeKind lists the windowed kinds
            raise KeyError(kind)
    per_hour = ("count_rate", "count_rate_online", "unrectified_rate")
    rows = [
        (f, w, i, PER_10K if kind in per_hour else 1.0)
        for f, (kind, _) in enumerate(families)
        for w, i in families[(kind, _)]
    ]
    return _Windows(
        found=np.array([_COLUMN[cols[0]] for cols in unrectified], dtype=np.intp),
        rectified=np.array([_COLUMN[cols[1]] for cols in unrectified], dtype=np.intp),
        share_columns=np.array([_COLUMN[c] for cols in shares for c in cols], dtype=np.intp),
        share_starts=np.cumsum([0] + [len(cols) for cols in shares[:-1]]).astype(np.intp),
        numerator=np.array([n for n, _ in pairs], dtype=np.intp),
        denominator=np.array([d for _, d in pairs], dtype=np.intp),
        family=np.array([f for f, _, _, _ in rows], dtype=np.intp),
        depth=np.array([w - 1 for _, w, _, _ in rows], dtype=np.intp),
        out=np.array([i for _, _, i, _ in rows], dtype=np.intp),
        scale=np.array([k for _, _, _, k in rows]),
    )


_W: Final = _windows()


def _extended(w: F64) -> F64:
    """The window with the derived rows :class:`_Windows` names appended."""
    found, rate = w[_W.found], w[_W.rectified]
    open_ = np.where(found == 0.0, 0.0, found * (1.0 - rate))
    reported = np.logical_or.reduceat(~np.isnan(w[_W.share_columns]), _W.share_starts, axis=0)
    return np.concatenate(
        (w, (w[_HOURS] * w[_ONLINE])[None], open_, reported, np.ones((1, *w.shape[1:])))
    )


def _windowed(out: F64, w: F64) -> None:
    """Every windowed feature of ``n`` targets from their window ``w`` (Past.window):
    one running sum over every (numerator, denominator) pair and one division."""
    x = _extended(w)
    sums = np.empty((2, len(_W.numerator), *w.shape[1:]))
    np.take(x, _W.numerator, axis=0, out=sums[0])
    np.take(x, _W.denominator, axis=0, out=sums[1])
    # a month counts only where both are reported
    missing = np.isnan(sums[0])
    missing |= np.isnan(sums[1])
    np.copyto(sums[0], 0.0, where=missing)
    np.copyto(sums[1], 0.0, where=missing)
    # the running sum over the window's few months, month by month: numpy's cumsum
    # along a short last axis is many times slower on many targets
    for j in range(1, sums.shape[-1]):
        sums[..., j] += sums[..., j - 1]
    picked = sums[:, _W.family, :, _W.depth]  # (features, 2, n)
    out[:, _W.out] = (_ratio(picked[:, 0], picked[:, 1]) * _W.scale[:, None]).T


Terms = tuple[F64 | float, F64 | float, float]


def _calendar(stat: str, start: F64, end: F64, day: F64) -> Terms:
    if stat == "project_age_months":
        return day - start, MONTH_DAYS, 1.0
    if stat == "planned_duration_months":
        return end - start, MONTH_DAYS, 1.0
    if stat == "planned_elapsed_share":
        return day - start, end - start, 1.0
    if stat == "months_to_planned_end":
        return end - day, MONTH_DAYS, 1.0
    raise KeyError(stat)


def _own_claims(stat: str, past: Past) -> Terms:
    if stat == "claims_count_all":
        return past.claims, 1.0, 1.0
    if stat == "serious_claims_count_all":
        return past.serious_claims, 1.0, 1.0
    if stat == "claims_per_10kwh_all":
        return past.claims, past.worker_hours, PER_10K
    if stat == "serious_claims_per_10kwh_all":
        return past.serious_claims, past.worker_hours, PER_10K
    raise KeyError(stat)


def _log(v: F64) -> F64:
    out = np.full(np.shape(v), np.nan)
    np.log(v, out=out, where=v > 0)
    return out


# The features outside windows, in output order: (column, kind, argument).
_OTHERS: Final = tuple(
    (i, RECIPES[name].kind, RECIPES[name].stat or (RECIPES[name].columns or ("",))[0])
    for i, name in enumerate(FEATURE_NAMES)
    if RECIPES[name].kind not in _WINDOWED
)
_OTHER_OUT: Final = np.array([i for i, _, _ in _OTHERS], dtype=np.intp)


def _terms(kind: str, arg: str, past: Past, site: SiteFacts, day: F64, record: Record) -> Terms:
    """A feature outside windows as numerator, denominator and scale: the feature is
    numerator / denominator x scale, NaN where the denominator is not positive."""
    if kind == "months_of_history":
        return past.months_of_history, 1.0, 1.0
    if kind == "months_since_data":
        return past.months_since_data, 1.0, 1.0
    if kind == "last":
        return past.last[arg], 1.0, 1.0
    if kind == "site":
        return site.values[arg], 1.0, 1.0
    if kind == "log_site":
        return _log(site.values[arg]), 1.0, 1.0
    if kind == "calendar":
        return _calendar(arg, site.start_day, site.end_day, day)
    if kind == "own_claims":
        return _own_claims(arg, past)
    if kind == "contractor_claims":
        return contractor_terms(arg, record)
    raise KeyError(kind)  # pragma: no cover - definition.RecipeKind lists them all


def compute(past: Past, site: SiteFacts, month: I64, contractor: Record) -> F64:
    """Feature rows (n, len(FEATURE_NAMES)) of ``n`` targets in target ``month``s
    (year * 12 + m - 1), from what was known before each."""
    n = len(month)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    _windowed(out, past.window)
    day = month_first_day(month)
    terms = [_terms(kind, arg, past, site, day, contractor) for _, kind, arg in _OTHERS]
    num = np.empty((len(terms), n))
    den = np.empty((len(terms), n))
    for k, (a, b, _) in enumerate(terms):
        num[k] = a
        den[k] = b
    scale = np.array([c for _, _, c in terms])
    out[:, _OTHER_OUT] = (_ratio(num, den) * scale[:, None]).T
    return out
