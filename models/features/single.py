"""One site's features for one target month in plain Python: the quote's fast path.

:func:`build_features` lays many sites out in flat panels, the right tool for a
portfolio or a training set; for one site its fixed cost (pandas indexes, factorising,
per-entity sums) is many times the arithmetic. :class:`SiteSeries` holds one site's
rows as plain numbers and :func:`site_features` follows the same recipes
(``definition.RECIPES``), kind by kind, with the same floating-point operations in the
same order as ``build.py``, so every value equals the batch builder's to the bit. The
tests hold the two equal on every site-month of two independent worlds; a change to a
recipe's arithmetic in one place and not the other fails them.

The order matters where floating-point sums are involved: trailing windows add the
months from the latest back, running totals add month by month from the site's first
month, and claims of one month (or older than the site's data) add up in the order
given before joining the running total. That is exactly what ``build.py`` does.

The contractor's record on its other sites is not in one site's rows: the quote
carries it (:class:`~models.features.contractor.Record`, worked out by ``build.py``
for a quote by reference) and the features come from it through the same function as
``build.py``'s. Without one, the site is its contractor's only site.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from models.contract import spec
from models.features.contractor import NONE, Record, contractor_feature
from models.features.definition import (
    CATEGORIES,
    FEATURE_NAMES,
    MONTH_DAYS,
    PER_10K,
    RECIPES,
    Recipe,
    source_columns,
)

F64 = npt.NDArray[np.float64]
NAN: Final = math.nan
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
_SERIOUS: Final = frozenset(("serious_injury", "fatality"))
_MONTH_COLUMNS: Final = tuple(
    c.name for c in spec.SITE_MONTHS if c.name not in ("site_id", "month")
)
_MONTH_NUMBERS: Final = tuple(n for n in _MONTH_COLUMNS if n != "stage")
_MONTH_VALUES: Final = operator.attrgetter("month", "stage", *_MONTH_NUMBERS)
_SITE_NUMBERS: Final = tuple(c.name for c in spec.SITES if c.kind in ("float", "int"))
_INDEX: Final = {name: i for i, name in enumerate(FEATURE_NAMES)}
_STAGE_CODE: Final = {s: float(i) for i, s in enumerate(spec.STAGES)}

# every window asked for, per (kind, columns): one pass over the months answers them all
_FAMILIES: Final[dict[tuple[str, tuple[str, ...]], tuple[int, ...]]] = {}
for _r in RECIPES.values():
    if _r.window is not None:
        _key = (_r.kind, _r.columns)
        _FAMILIES[_key] = tuple(sorted({*_FAMILIES.get(_key, ()), _r.window}))
_DEEPEST: Final = max((max(w) for w in _FAMILIES.values()), default=0)
# where each family's windows go in a row, and the features computed one by one
_FAMILY_SLOTS: Final[dict[tuple[str, tuple[str, ...]], list[tuple[int, int]]]] = {}
_OTHERS: Final[list[tuple[int, str, Recipe]]] = []
for _i, _name in enumerate(FEATURE_NAMES):
    _r = RECIPES[_name]
    if _r.window is None:
        _OTHERS.append((_i, _name, _r))
    else:
        _FAMILY_SLOTS.setdefault((_r.kind, _r.columns), []).append((_r.window, _i))


def month_number(month: str) -> int:
    """``YYYY-MM`` as year * 12 + month - 1 (what ``build.py`` counts months in)."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _days(value: Any) -> float:
    """A date (``datetime.date`` or ``pandas.Timestamp``) as days since 1970-01-01."""
    return NAN if value is None else float(value.toordinal() - _EPOCH_ORDINAL)


def _number(value: Any) -> float:
    return NAN if value is None else float(value)


def _code(value: Any, options: Mapping[str, float]) -> float:
    return options.get(value, NAN) if isinstance(value, str) else NAN


@cache
def _codes_of(name: str) -> dict[str, float]:
    return {c: float(i) for i, c in enumerate(CATEGORIES[name])}


@dataclass(frozen=True, slots=True)
class SiteSeries:
    """One site's contract rows as plain numbers: everything its features read.

    ``columns`` holds every ``site_months`` value column in ``months`` order (NaN: not
    reported; ``stage`` as its position in ``spec.STAGES``); ``claims`` holds (month,
    serious 0/1) per claim with a date, in the order given; ``contractor`` is the
    contractor's record on its other sites before the target month."""

    months: tuple[int, ...]  # ascending, distinct
    columns: dict[str, tuple[float, ...]]
    site: dict[str, float]  # numeric sites columns; project_type and district as codes
    start_day: float
    end_day: float
    claims: tuple[tuple[int, float], ...]
    row_of: dict[int, int]  # month -> row
    contractor: Record = NONE

    def with_column(self, column: str, values: Sequence[float]) -> SiteSeries:
        """The same site with one ``site_months`` column replaced (values in ``months``
        order), as a recommendation's what-if needs it."""
        if len(values) != len(self.months):
            raise ValueError(f"{column}: {len(values)} values for {len(self.months)} months")
        return replace(self, columns={**self.columns, column: tuple(values)})


def site_series(
    site: Any, months: Iterable[Any], claims: Iterable[Any], contractor: Record = NONE
) -> SiteSeries:
    """One site's rows as :class:`SiteSeries`. Rows are objects with the contract's
    column names as attributes (msgspec structs, named tuples), missing values as
    ``None``; months may come in any order but not twice."""
    rows = sorted(map(_MONTH_VALUES, months), key=lambda r: month_number(r[0]))
    numbers = tuple(month_number(r[0]) for r in rows)
    row_of = {m: i for i, m in enumerate(numbers)}
    if len(row_of) != len(numbers):
        raise ValueError("site_months: a month appears twice")
    # one conversion for the whole table (None reads as NaN), then column by column
    table = np.array([r[2:] for r in rows], dtype=np.float64)
    by_column = table.reshape(len(rows), len(_MONTH_NUMBERS)).T.tolist()
    columns: dict[str, tuple[float, ...]] = {
        name: tuple(values) for name, values in zip(_MONTH_NUMBERS, by_column, strict=True)
    }
    columns["stage"] = tuple(_code(r[1], _STAGE_CODE) for r in rows)
    values = {name: _number(getattr(site, name)) for name in _SITE_NUMBERS}
    for name in ("project_type", "district"):
        values[name] = _code(getattr(site, name), _codes_of(name))
    found = []
    for c in claims:
        day = c.incident_date
        if day is None:
            continue
        serious = 1.0 if c.severity in _SERIOUS else 0.0
        found.append((day.year * 12 + day.month - 1, serious))
    return SiteSeries(
        months=numbers,
        columns=columns,
        site=values,
        start_day=_days(site.start_date),
        end_day=_days(site.planned_end_date),
        claims=tuple(found),
        row_of=row_of,
        contractor=contractor,
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else NAN


def _log(value: float) -> float:
    # numpy's log, as build.py takes it: libm's may differ in the last bit.
    if not value > 0:
        return NAN
    return float(np.log(np.array([value]))[0])


class _Site:
    """One target month of one site; computes features on demand, sharing the work of
    one feature family between its windows as ``build.py`` does."""

    def __init__(self, s: SiteSeries, target: int) -> None:
        self.s = s
        self.target = target
        # row of the month j months before the target (index j), or -1
        self.back = [s.row_of.get(target - j, -1) for j in range(_DEEPEST + 1)]
        self.families: dict[tuple[str, tuple[str, ...]], dict[int, float]] = {}
        self._own: dict[str, float] | None = None
        self._before: list[int] | None = None

    @property
    def before(self) -> list[int]:
        """Rows strictly before the target month, oldest first."""
        if self._before is None:
            self._before = [i for i, m in enumerate(self.s.months) if m < self.target]
        return self._before

    # -- trailing windows -------------------------------------------------------------
    def family(self, kind: str, columns: tuple[str, ...]) -> dict[int, float]:
        key = (kind, columns)
        found = self.families.get(key)
        if found is None:
            windows = _FAMILIES[key]
            if kind == "count_rate":
                found = self.count_rate(columns[0], windows, online=False)
            elif kind == "count_rate_online":
                found = self.count_rate(columns[0], windows, online=True)
            elif kind == "unrectified_rate":
                found = self.unrectified_rate(columns[0], columns[1], windows)
            elif kind == "mean":
                found = self.mean(columns[0], windows)
            elif kind == "reported_share":
                found = self.reported_share(columns, windows)
            else:  # pragma: no cover - RECIPES only window these kinds
                raise KeyError(kind)
            self.families[key] = found
        return found

    def count_rate(self, column: str, windows: tuple[int, ...], online: bool) -> dict[int, float]:
        values = self.s.columns[column]
        hours = self.s.columns["worker_hours"]
        online_rate = self.s.columns["device_online_rate"]
        num = den = 0.0
        out = {}
        for j in range(1, windows[-1] + 1):
            row = self.back[j]
            if row >= 0:
                v = values[row]
                h = hours[row] * online_rate[row] if online else hours[row]
                if v == v and h == h:  # both reported (not NaN)
                    num += v
                    den += h
            if j in windows:
                out[j] = _ratio(num, den) * PER_10K
        return out

    def unrectified_rate(self, found: str, rate: str, windows: tuple[int, ...]) -> dict[int, float]:
        counts = self.s.columns[found]
        rates = self.s.columns[rate]
        hours = self.s.columns["worker_hours"]
        num = den = 0.0
        out = {}
        for j in range(1, windows[-1] + 1):
            row = self.back[j]
            if row >= 0:
                v, r, h = counts[row], rates[row], hours[row]
                # found and hours reported, and the rate too unless nothing was found
                if v == v and h == h and (v == 0.0 or r == r):
                    num += v * (1.0 - r) if v != 0.0 else 0.0
                    den += h
            if j in windows:
                out[j] = _ratio(num, den) * PER_10K
        return out

    def mean(self, column: str, windows: tuple[int, ...]) -> dict[int, float]:
        values = self.s.columns[column]
        total = count = 0.0
        out = {}
        for j in range(1, windows[-1] + 1):
            row = self.back[j]
            if row >= 0:
                v = values[row]
                if v == v:
                    total += v
                    count += 1.0
            if j in windows:
                out[j] = _ratio(total, count)
        return out

    def reported_share(
        self, columns: tuple[str, ...], windows: tuple[int, ...]
    ) -> dict[int, float]:
        cols = [self.s.columns[c] for c in columns]
        months = 0.0
        out = {}
        for j in range(1, windows[-1] + 1):
            row = self.back[j]
            if row >= 0 and any(v[row] == v[row] for v in cols):
                months += 1.0
            if j in windows:
                out[j] = months / j
        return out

    # -- whole history before the target ---------------------------------------------
    def months_of_history(self) -> float:
        return float(len(self.before))

    def months_since_data(self) -> float:
        return float(self.target - self.s.months[self.before[-1]]) if self.before else NAN

    def last(self, column: str) -> float:
        values = self.s.columns[column]
        for row in reversed(self.before):
            if values[row] == values[row]:
                return values[row]
        return NAN

    def own_totals(self) -> dict[str, float]:
        """Claims and worker-hours before the target, added as ``build.py``'s running
        sums add them: cell by cell from the month before the first one with data (or
        the target), older claims gathered into that first cell."""
        if self._own is None:
            s = self.s
            first = min(s.months[0], self.target) if s.months else self.target
            front = first - 1
            cells: dict[int, list[float]] = {}
            for month, serious in s.claims:
                if month < self.target:
                    cell = cells.setdefault(max(month, front), [0.0, 0.0])
                    cell[0] += 1.0
                    cell[1] += serious
            count = serious_total = 0.0
            for month in sorted(cells):
                c = cells[month]
                count += c[0]
                serious_total += c[1]
            hours = 0.0
            worker_hours = s.columns["worker_hours"]
            for row in self.before:
                h = worker_hours[row]
                hours += h if h == h else 0.0
            self._own = {
                "count": count,
                "serious": serious_total,
                "hours": hours,
            }
        return self._own

    def own_claims(self, stat: str) -> float:
        own = self.own_totals()
        if stat == "claims_count_all":
            return own["count"]
        if stat == "serious_claims_count_all":
            return own["serious"]
        if stat == "claims_per_10kwh_all":
            return _ratio(own["count"], own["hours"]) * PER_10K
        if stat == "serious_claims_per_10kwh_all":
            return _ratio(own["serious"], own["hours"]) * PER_10K
        raise KeyError(stat)

    def contractor_claims(self, stat: str) -> float:
        return float(contractor_feature(stat, self.s.contractor))

    # -- the site ---------------------------------------------------------------------
    def calendar(self, stat: str) -> float:
        start, end = self.s.start_day, self.s.end_day
        year, month = divmod(self.target, 12)
        day = float(dt.date(year, month + 1, 1).toordinal() - _EPOCH_ORDINAL)
        if stat == "project_age_months":
            return (day - start) / MONTH_DAYS
        if stat == "planned_duration_months":
            return (end - start) / MONTH_DAYS
        if stat == "planned_elapsed_share":
            return _ratio(day - start, end - start)
        if stat == "months_to_planned_end":
            return (end - day) / MONTH_DAYS
        raise KeyError(stat)

    def compute(self, name: str, recipe: Recipe) -> float:
        kind, cols = recipe.kind, recipe.columns
        if recipe.window is not None:
            return self.family(kind, cols)[recipe.window]
        if kind == "months_of_history":
            return self.months_of_history()
        if kind == "months_since_data":
            return self.months_since_data()
        if kind == "last":
            return self.last(cols[0])
        if kind == "site":
            return self.s.site[cols[0]]
        if kind == "log_site":
            return _log(self.s.site[cols[0]])
        if kind == "calendar":
            return self.calendar(recipe.stat)
        if kind == "own_claims":
            return self.own_claims(recipe.stat)
        if kind == "contractor_claims":
            return self.contractor_claims(recipe.stat)
        raise KeyError(kind)


def site_features(
    s: SiteSeries, target_month: int, *, base: F64 | None = None, only: Iterable[str] = ()
) -> F64:
    """The features of ``s`` for ``target_month`` (a :func:`month_number`) in
    ``FEATURE_NAMES`` order, from its data before that month only; equal to what
    ``build_features`` gives for this site alone.

    With ``base`` (the row of a site that differs from ``s`` only in some columns),
    only the features named in ``only`` are computed and the rest copied from it:
    :func:`reading` says which features a column moves."""
    site = _Site(s, target_month)
    if base is None:
        row = [NAN] * len(FEATURE_NAMES)
        for (kind, columns), slots in _FAMILY_SLOTS.items():
            values = site.family(kind, columns)
            for window, index in slots:
                row[index] = values[window]
        for index, name, recipe in _OTHERS:
            row[index] = site.compute(name, recipe)
        return np.array(row, dtype=np.float64)
    out = base.copy()
    for name in only:
        out[_INDEX[name]] = site.compute(name, RECIPES[name])
    return out


@cache
def reading(column: str) -> tuple[str, ...]:
    """Features whose value may change when ``column``'s values change."""
    return tuple(name for name in FEATURE_NAMES if column in source_columns(name))
