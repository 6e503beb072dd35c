"""The arithmetic of every feature, once, for any number of targets.

Whatever the front end (a folder's frames in ``build.py``, a quote's rows in
``single.py``), the data a target's features read is first gathered into
:class:`Past` (its site's months before the target, by :mod:`models.features.history`)
and :class:`SiteFacts` (the site's attributes), and the contractor's
:class:`~models.features.contractor.Record`. :func:`compute` turns those into
feature values, a recipe kind at a time over all targets and all of a kind's
families at once: one quote, a what-if batch, a portfolio and a training set run the
very same operations, so they agree by construction.

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
from models.features.contractor import Record, contractor_feature
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
    """Every windowed feature as a window sum of one family's numerator over its
    denominator. Families, in this order: counts per hour (``count_rate``, and
    ``count_rate_online`` over online hours), unrectified hazards per hour, means, and
    reported shares (months with a report over calendar months). ``feature`` lists each
    feature's family, window - 1, output column and scale."""

    rate_columns: npt.NDArray[np.intp]
    rate_online: npt.NDArray[np.intp]  # 1: the hours are online hours
    found: npt.NDArray[np.intp]
    rectified: npt.NDArray[np.intp]
    mean_columns: npt.NDArray[np.intp]
    share_columns: npt.NDArray[np.intp]  # every share family's columns, one after another
    share_starts: npt.NDArray[np.intp]  # where each family's columns start
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
    groups: tuple[tuple[str, ...], ...] = (
        ("count_rate", "count_rate_online"),
        ("unrectified_rate",),
        ("mean",),
        ("reported_share",),
    )
    ranked = [key for kinds in groups for key in families if key[0] in kinds]
    if len(ranked) != len(families):  # pragma: no cover - RecipeKind lists them
        raise KeyError(f"windowed kinds without arithmetic: {set(families) - set(ranked)}")
    rows = [(f, w, i, key[0]) for f, key in enumerate(ranked) for w, i in families[key]]
    rates = [k for k in ranked if k[0].startswith("count_rate")]
    unrectified = [k for k in ranked if k[0] == "unrectified_rate"]
    shares = [cols for kind, cols in ranked if kind == "reported_share"]
    per_hour = ("count_rate", "count_rate_online", "unrectified_rate")
    return _Windows(
        rate_columns=np.array([_COLUMN[cols[0]] for _, cols in rates], dtype=np.intp),
        rate_online=np.array([k == "count_rate_online" for k, _ in rates], dtype=np.intp),
        found=np.array([_COLUMN[cols[0]] for _, cols in unrectified], dtype=np.intp),
        rectified=np.array([_COLUMN[cols[1]] for _, cols in unrectified], dtype=np.intp),
        mean_columns=np.array(
            [_COLUMN[cols[0]] for kind, cols in ranked if kind == "mean"], dtype=np.intp
        ),
        share_columns=np.array([_COLUMN[c] for cols in shares for c in cols], dtype=np.intp),
        share_starts=np.cumsum([0] + [len(cols) for cols in shares[:-1]]).astype(np.intp),
        family=np.array([f for f, _, _, _ in rows], dtype=np.intp),
        depth=np.array([w - 1 for _, w, _, _ in rows], dtype=np.intp),
        out=np.array([i for _, _, i, _ in rows], dtype=np.intp),
        scale=np.array([PER_10K if kind in per_hour else 1.0 for _, _, _, kind in rows]),
    )


_W: Final = _windows()


def _windowed(out: F64, w: F64) -> None:
    """Every windowed feature of ``n`` targets from their window ``w`` (Past.window):
    the months each family counts, its numerator and denominator in each, then one
    running sum over the window and one division for all."""
    n, depth = w.shape[1], w.shape[2]
    hours = w[_HOURS]
    # counts per (online) worker-hour: a month counts when both are reported
    v = w[_W.rate_columns]
    per = np.stack((hours, hours * w[_ONLINE]))[_W.rate_online]
    counted = ~np.isnan(v) & ~np.isnan(per)
    rate_num, rate_den = np.where(counted, v, 0.0), np.where(counted, per, 0.0)
    # unrectified hazards, found x (1 - rectification rate), per worker-hour: a month
    # counts when found and hours are reported and either the rate is or nothing was
    # found (then nothing is unrectified, whatever the rate)
    found, rate = w[_W.found], w[_W.rectified]
    none = found == 0.0
    counted = ~np.isnan(found) & ~np.isnan(hours) & (none | ~np.isnan(rate))
    open_num = np.where(counted & ~none, found * (1.0 - rate), 0.0)
    open_den = np.where(counted, hours, 0.0)
    # means of the reported months
    v = w[_W.mean_columns]
    counted = ~np.isnan(v)
    mean_num, mean_den = np.where(counted, v, 0.0), counted.astype(np.float64)
    # share of calendar months in which any of a family's columns was reported
    reported = np.logical_or.reduceat(~np.isnan(w[_W.share_columns]), _W.share_starts, axis=0)
    share_num = reported.astype(np.float64)
    share_den = np.ones((len(_W.share_starts), n, depth))

    sums = np.stack(
        (
            np.concatenate((rate_num, open_num, mean_num, share_num)),
            np.concatenate((rate_den, open_den, mean_den, share_den)),
        )
    )
    np.cumsum(sums, axis=-1, out=sums)
    picked = sums[:, _W.family, :, _W.depth]  # (features, 2, n)
    out[:, _W.out] = (_ratio(picked[:, 0], picked[:, 1]) * _W.scale[:, None]).T


def _calendar(stat: str, start: F64, end: F64, day: F64) -> F64:
    if stat == "project_age_months":
        return (day - start) / MONTH_DAYS
    if stat == "planned_duration_months":
        return (end - start) / MONTH_DAYS
    if stat == "planned_elapsed_share":
        return _ratio(day - start, end - start)
    if stat == "months_to_planned_end":
        return (end - day) / MONTH_DAYS
    raise KeyError(stat)


def _own_claims(stat: str, past: Past) -> F64:
    if stat == "claims_count_all":
        return past.claims
    if stat == "serious_claims_count_all":
        return past.serious_claims
    if stat == "claims_per_10kwh_all":
        return _ratio(past.claims, past.worker_hours) * PER_10K
    if stat == "serious_claims_per_10kwh_all":
        return _ratio(past.serious_claims, past.worker_hours) * PER_10K
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


def compute(past: Past, site: SiteFacts, month: I64, contractor: Record) -> F64:
    """Feature rows (n, len(FEATURE_NAMES)) of ``n`` targets in target ``month``s
    (year * 12 + m - 1), from what was known before each."""
    out = np.empty((len(month), len(FEATURE_NAMES)), dtype=np.float64)
    _windowed(out, past.window)
    day = month_first_day(month)
    for i, kind, arg in _OTHERS:
        if kind == "months_of_history":
            out[:, i] = past.months_of_history
        elif kind == "months_since_data":
            out[:, i] = past.months_since_data
        elif kind == "last":
            out[:, i] = past.last[arg]
        elif kind == "site":
            out[:, i] = site.values[arg]
        elif kind == "log_site":
            out[:, i] = _log(site.values[arg])
        elif kind == "calendar":
            out[:, i] = _calendar(arg, site.start_day, site.end_day, day)
        elif kind == "own_claims":
            out[:, i] = _own_claims(arg, past)
        elif kind == "contractor_claims":
            out[:, i] = contractor_feature(arg, contractor)
        else:  # pragma: no cover - definition.RecipeKind lists them all
            raise KeyError(kind)
    return out
