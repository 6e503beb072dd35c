"""Features of sites sent as rows: one quote, a quote's what-ifs, a small portfolio.

:class:`SiteSeries` holds one site's contract rows as numbers (the JSON of a quote, no
pandas). :func:`series_features` lays any number of them out as a
:class:`~models.features.history.History`, one site each, and computes their features
with :func:`~models.features.arithmetic.compute`: the same gathering and the same
arithmetic as ``build.py``'s for a folder, so the two agree by construction. Only the
parsing differs: rows here, frames there.

The contractor's record on its other sites is not in one site's rows: the quote
carries it (:class:`~models.features.contractor.Record`, worked out by ``build.py``
for a quote by reference). Without one, the site is its contractor's only site.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from models.contract import spec
from models.features.arithmetic import SITE_CATEGORIES, SITE_COLUMNS, SiteFacts, compute
from models.features.contractor import NONE, Record
from models.features.definition import FEATURE_NAMES, source_columns
from models.features.history import COLUMNS, History

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
NAN: Final = math.nan
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
_SERIOUS: Final = frozenset(("serious_injury", "fatality"))
_ROW: Final = {name: i for i, name in enumerate(COLUMNS)}
_NUMBERS: Final = tuple(c for c in COLUMNS if c != "stage")
_MONTH_VALUES: Final = operator.attrgetter("month", "stage", *_NUMBERS)
_TABLE_ORDER: Final = np.array([_NUMBERS.index(c) + 1 if c != "stage" else 0 for c in COLUMNS])
_STAGE_CODE: Final = {s: float(i) for i, s in enumerate(spec.STAGES)}


def month_number(month: str) -> int:
    """``YYYY-MM`` as year * 12 + month - 1 (what the features count months in)."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _days(value: Any) -> float:
    """A date (``datetime.date`` or ``pandas.Timestamp``) as days since 1970-01-01."""
    return NAN if value is None else float(value.toordinal() - _EPOCH_ORDINAL)


def _number(value: Any) -> float:
    return NAN if value is None else float(value)


@cache
def _codes_of(column: str) -> dict[str, float]:
    return {c: float(i) for i, c in enumerate(SITE_CATEGORIES[column])}


def _site_value(site: Any, column: str) -> float:
    value = getattr(site, column)
    if column in SITE_CATEGORIES:
        return _codes_of(column).get(value, NAN) if isinstance(value, str) else NAN
    return _number(value)


@dataclass(frozen=True, slots=True)
class SiteSeries:
    """One site's contract rows as numbers: everything its features read.

    ``table`` holds the ``site_months`` columns the features read
    (:data:`models.features.history.COLUMNS`), one row each, in ``months`` order
    (NaN: not reported; ``stage`` as its position in ``spec.STAGES``); claims are
    (month, serious 0/1) per claim with a date; ``contractor`` is the contractor's
    record on its other sites before the target month."""

    months: I64  # ascending, distinct
    table: F64  # (len(COLUMNS), len(months))
    site: dict[str, float]  # SITE_COLUMNS; categorical ones as positions
    start_day: float
    end_day: float
    claim_months: I64
    claim_serious: F64
    contractor: Record = NONE

    @property
    def facts(self) -> tuple[float, ...]:
        """The site's SITE_COLUMNS, start and planned end day, then its record."""
        return (
            *(self.site[c] for c in SITE_COLUMNS),
            self.start_day,
            self.end_day,
            *map(float, self.contractor),
        )

    def column(self, name: str) -> F64:
        """One ``site_months`` column's values in ``months`` order."""
        return np.asarray(self.table[_ROW[name]], dtype=np.float64)

    def with_column(self, column: str, values: Sequence[float] | F64) -> SiteSeries:
        """The same site with one ``site_months`` column replaced (values in ``months``
        order), as a recommendation's what-if needs it."""
        if len(values) != len(self.months):
            raise ValueError(f"{column}: {len(values)} values for {len(self.months)} months")
        table = self.table.copy()
        table[_ROW[column]] = values
        # not dataclasses.replace, which looks every field up by name: a quote makes
        # a dozen what-ifs, a portfolio thousands
        return SiteSeries(
            self.months, table, self.site, self.start_day, self.end_day, self.claim_months,
            self.claim_serious, self.contractor,
        )  # fmt: skip


def site_series(
    site: Any, months: Iterable[Any], claims: Iterable[Any], contractor: Record = NONE
) -> SiteSeries:
    """One site's rows as :class:`SiteSeries`. Rows are objects with the contract's
    column names as attributes (msgspec structs, named tuples), missing values as
    ``None``; months may come in any order but not twice."""
    rows = sorted(map(_MONTH_VALUES, months), key=lambda r: month_number(r[0]))
    numbers = np.array([month_number(r[0]) for r in rows], dtype=np.int64)
    if len(numbers) > 1 and not (numbers[1:] > numbers[:-1]).all():
        raise ValueError("site_months: a month appears twice")
    # one conversion for the whole table (None reads as NaN), stage by its code
    values = np.array(
        [(_STAGE_CODE.get(r[1], NAN) if isinstance(r[1], str) else NAN, *r[2:]) for r in rows],
        dtype=np.float64,
    ).reshape(len(rows), len(_NUMBERS) + 1)
    found = [
        (c.incident_date.year * 12 + c.incident_date.month - 1, c.severity in _SERIOUS)
        for c in claims
        if c.incident_date is not None
    ]
    return SiteSeries(
        months=numbers,
        table=np.ascontiguousarray(values.T[_TABLE_ORDER]),
        site={column: _site_value(site, column) for column in SITE_COLUMNS},
        start_day=_days(site.start_date),
        end_day=_days(site.planned_end_date),
        claim_months=np.array([m for m, _ in found], dtype=np.int64),
        claim_serious=np.array([s for _, s in found], dtype=np.float64),
        contractor=contractor,
    )


def series_features(series: Sequence[SiteSeries], targets: Sequence[int]) -> F64:
    """Feature rows (n, len(FEATURE_NAMES)) of each site in ``series`` for its target
    month (a :func:`month_number`), from its data before that month only; equal to what
    ``build_features`` gives for these sites, each alone."""
    n = len(series)
    if n == 0:
        return np.empty((0, len(FEATURE_NAMES)), dtype=np.float64)
    entity = np.arange(n, dtype=np.int64)
    history = History(
        np.repeat(entity, [len(s.months) for s in series]),
        np.concatenate([s.months for s in series]),
        np.concatenate([s.table for s in series], axis=1),
        np.repeat(entity, [len(s.claim_months) for s in series]),
        np.concatenate([s.claim_months for s in series]),
        np.concatenate([s.claim_serious for s in series]),
    )
    # one conversion for every site's facts and record: a column each
    facts = np.array([s.facts for s in series], dtype=np.float64).T
    k = len(SITE_COLUMNS)
    site = SiteFacts(
        values=dict(zip(SITE_COLUMNS, facts[:k], strict=True)),
        start_day=facts[k],
        end_day=facts[k + 1],
    )
    month = np.asarray(targets, dtype=np.int64)
    return compute(history.past(entity, month), site, month, Record(*facts[k + 2 :]))


def site_features(s: SiteSeries, target_month: int) -> F64:
    """The features of ``s`` for ``target_month`` in ``FEATURE_NAMES`` order."""
    return np.asarray(series_features([s], [target_month])[0], dtype=np.float64)


@cache
def reading(column: str) -> tuple[str, ...]:
    """Features whose value may change when ``column``'s values change."""
    return tuple(name for name in FEATURE_NAMES if column in source_columns(name))
