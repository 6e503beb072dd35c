"""Features for (site, month) targets of a folder, from data strictly before each
target month.

The frames are parsed once into :class:`~models.features.history.History` (the sites'
months and claims) and site facts; each target's past is gathered from it and the
features computed by :func:`~models.features.arithmetic.compute`, exactly as a quote's
are (``single.py``): parsing is all that differs. Targets are gathered and computed a
block at a time so that a million site-months need no million-by-window arrays of every
column at once.

The contractor's record sums a contractor's sites in a panel: consecutive months per
contractor laid end to end in flat arrays, so "everything before m" is a running sum
read one cell before ``m``, restarting for every contractor.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.contract import spec
from models.features.arithmetic import SITE_CATEGORIES, SITE_COLUMNS, Past, SiteFacts, compute
from models.features.contractor import Record
from models.features.definition import FEATURE_NAMES, FEATURES
from models.features.history import History

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_EPOCH_MONTH = 1970 * 12
_SERIOUS = ("serious_injury", "fatality")
_NEEDED = {
    "sites": tuple(c.name for c in spec.SITES),
    "site_months": tuple(c.name for c in spec.SITE_MONTHS),
    "claims": ("site_id", "incident_date", "severity", "paid_cny", "reserve_cny"),
}


def _require(frame: pd.DataFrame, table: str) -> None:
    missing = [c for c in _NEEDED[table] if c not in frame.columns]
    if missing:
        raise KeyError(f"{table}: missing column(s) {', '.join(missing)}")


def _months(values: pd.Series) -> I64:
    """``YYYY-MM`` strings to a month count (year * 12 + month - 1)."""
    codes, uniques = pd.factorize(values)
    if (codes < 0).any():
        raise ValueError("month has missing values")
    parsed = pd.to_datetime(pd.Index(uniques).astype(str), format="%Y-%m")
    idx = parsed.year.to_numpy(np.int64) * 12 + parsed.month.to_numpy(np.int64) - 1
    return np.asarray(idx[codes], dtype=np.int64)


def _floats(values: pd.Series) -> F64:
    return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _days(values: pd.Series) -> F64:
    """Dates to days since 1970-01-01, NaN for missing."""
    d = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    out = d.astype(np.int64).astype(np.float64)
    out[np.isnat(d)] = np.nan
    return out


def _codes(values: pd.Series, categories: tuple[str, ...]) -> F64:
    """Position in ``categories`` as float, NaN for missing or unknown values."""
    codes, uniques = pd.factorize(values)
    positions = pd.Index(categories).get_indexer(pd.Index(uniques).astype(object))
    found = np.append(positions, -1)[codes]  # code -1 (missing) reads the appended -1
    return np.where(found >= 0, found, np.nan).astype(np.float64)


def _take(values: F64, rows: I64) -> F64:
    """``values[rows]`` with NaN where ``rows`` is -1 (no match)."""
    if len(values) == 0:
        return np.full(len(rows), np.nan)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan)


def _take_int(values: I64, rows: npt.NDArray[np.intp] | I64) -> I64:
    """``values[rows]`` with -1 where ``rows`` is -1."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(values) == 0:
        return np.full(len(rows), -1, dtype=np.int64)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], -1)


@dataclass(frozen=True)
class _Keys:
    """A string column factorized once, so finding it in several indexes is cheap."""

    codes: npt.NDArray[np.intp]
    uniques: pd.Index

    @classmethod
    def of(cls, values: pd.Series) -> _Keys:
        codes, uniques = pd.factorize(values)
        return cls(codes, pd.Index(uniques))

    def find(self, index: pd.Index) -> I64:
        """Position of every value in ``index``; -1 where absent or missing."""
        positions = np.append(index.get_indexer(self.uniques), -1).astype(np.int64)
        return positions[self.codes]


@dataclass(frozen=True)
class _Panel:
    """Consecutive months per entity, laid end to end: entity ``e`` owns the cells
    ``off[e] .. off[e] + hi[e] - lo[e]``, the first holding month ``lo[e]``. One last
    cell belongs to no entity."""

    lo: I64
    hi: I64
    off: I64
    entity: I64  # cell -> entity

    @classmethod
    def spanning(cls, n: int, ent: I64, month: I64, extra_ent: I64, extra_month: I64) -> _Panel:
        # One spare month in front: data older than the panel is summed into it,
        # so "before m" totals see it while no target window reaches it.
        lo = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(lo, ent, month)
        np.minimum.at(lo, extra_ent, extra_month)
        lo -= 1
        hi = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(hi, ent, month)
        # entities without a target get no cells
        targeted = hi > np.iinfo(np.int64).min
        lo = np.where(targeted, lo, 0)
        hi = np.where(targeted, hi, -1)
        length = hi - lo + 1
        off = np.zeros(n, dtype=np.int64)
        np.cumsum(length[:-1], out=off[1:])
        entity = np.repeat(np.arange(n + 1, dtype=np.int64), np.append(length, 1))
        return cls(lo, hi, off, entity)

    @property
    def size(self) -> int:
        return len(self.entity)

    def locate(self, ent: I64, month: I64) -> tuple[I64, Mask]:
        """Cells of (entity, month) pairs; older months go to the spare front cell,
        later ones and unknown entities (-1) are dropped."""
        known = ent >= 0
        if len(self.lo) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(len(ent), dtype=bool)
        e = np.where(known, ent, 0)
        lo = self.lo[e]
        keep = known & (month <= self.hi[e])
        idx = self.off[e] + np.maximum(month, lo) - lo
        return idx[keep], keep

    def add(self, ent: I64, month: I64, weights: F64) -> F64:
        """Per-cell sums of rows (several rows may share a cell)."""
        idx, keep = self.locate(ent, month)
        return np.bincount(idx, weights=weights[keep], minlength=self.size).astype(np.float64)

    def running(self, cells: F64) -> F64:
        """Running sum within each entity (NaN counts as 0), left to right from the
        entity's first cell. Each entity gets a row of a zero-padded grid, so the sums
        restart per entity."""
        filled = np.nan_to_num(cells, nan=0.0)
        start = np.append(self.off, self.size - 1)
        pos = np.arange(self.size, dtype=np.int64) - start[self.entity]
        grid = np.zeros((len(start), int(pos.max()) + 1))
        grid[self.entity, pos] = filled
        np.cumsum(grid, axis=1, out=grid)
        return np.asarray(grid[self.entity, pos], dtype=np.float64)


@dataclass(frozen=True)
class _Targets:
    """Targets placed in a panel: ``base`` is the cell of the target month itself."""

    base: I64

    @classmethod
    def locate(cls, panel: _Panel, ent: I64, month: I64) -> _Targets:
        return cls(panel.off[ent] + month - panel.lo[ent])

    def before(self, running: F64) -> F64:
        """A running sum's total over all months before each target."""
        return running[self.base - 1]


class _Builder:
    """A folder's frames as :class:`History` and site facts for the targets, plus the
    contractors' records across sites; the features then come from
    :func:`~models.features.arithmetic.compute`, as for a quote."""

    def __init__(
        self,
        sites: pd.DataFrame,
        site_months: pd.DataFrame,
        claims: pd.DataFrame,
        targets: pd.DataFrame,
    ) -> None:
        self.n = len(targets)
        self.sites = sites
        self.sm = site_months
        self.claims = claims.loc[claims["incident_date"].notna()]
        self.t_month = _months(targets["month"])
        t_ent, site_ids = pd.factorize(targets["site_id"])
        if (t_ent < 0).any():
            raise ValueError("targets: site_id has missing values")
        self.t_ent = t_ent.astype(np.int64)
        self.site_ids = pd.Index(site_ids)

        self.sm_site = _Keys.of(site_months["site_id"])
        self.claim_site = _Keys.of(self.claims["site_id"])
        self.sm_month = _months(site_months["month"])
        self.claim_month = (
            pd.to_datetime(self.claims["incident_date"]).to_numpy(dtype="datetime64[M]")
        ).astype(np.int64) + _EPOCH_MONTH
        self.history = History(
            self.sm_site.find(self.site_ids),
            self.sm_month,
            _MonthColumns(site_months),
            self.claim_site.find(self.site_ids),
            self.claim_month,
            _floats(self.claims["severity"].isin(_SERIOUS)),
        )
        # row of each target's site in ``sites`` (-1: unknown site)
        in_sites = pd.Index(sites["site_id"]).get_indexer(self.site_ids).astype(np.int64)
        self.site_row: I64 = in_sites[self.t_ent]
        self._own: Past | None = None

    @cached_property
    def _site_values(self) -> dict[str, F64]:
        """The sites columns the features read, as numbers, by ``sites`` row."""
        values = {
            column: _codes(self.sites[column], SITE_CATEGORIES[column])
            if column in SITE_CATEGORIES
            else _floats(self.sites[column])
            for column in SITE_COLUMNS
        }
        values["start_date"] = _days(self.sites["start_date"])
        values["planned_end_date"] = _days(self.sites["planned_end_date"])
        return values

    def site_facts(self, rows: slice) -> SiteFacts:
        at = self.site_row[rows]
        values = self._site_values
        return SiteFacts(
            values={column: _take(values[column], at) for column in SITE_COLUMNS},
            start_day=_take(values["start_date"], at),
            end_day=_take(values["planned_end_date"], at),
        )

    def past(self, rows: slice) -> Past:
        return self.history.past(self.t_ent[rows], self.t_month[rows])

    def exposure(self) -> F64:
        return self.history.current("worker_hours", self.t_ent, self.t_month)

    # -- the contractor's record ------------------------------------------------

    def contractor_totals(self) -> dict[str, F64]:
        """Totals over all sites of each target's contractor, months before the target
        (NaN where the site, hence its contractor, is not in ``sites``)."""
        # contractor code of every sites row
        row_con, names = pd.factorize(self.sites["contractor_id"])
        row_con = row_con.astype(np.int64)
        t_con = _take_int(row_con, self.site_row)
        known = t_con >= 0
        t_con = t_con[known]
        none = np.zeros(0, dtype=np.int64)
        panel = _Panel.spanning(len(names), t_con, self.t_month[known], none, none)
        at = _Targets.locate(panel, t_con, self.t_month[known])

        site_index = pd.Index(self.sites["site_id"])
        sm_row = self.sm_site.find(site_index)
        sm_con = _take_int(row_con, sm_row)
        claim_con = _take_int(row_con, self.claim_site.find(site_index))
        # a site counts as one of the contractor's from the first month it reports
        first = np.full(len(self.sites), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, sm_row[sm_row >= 0], self.sm_month[sm_row >= 0])
        started = first < np.iinfo(np.int64).max

        weights = {
            "count": np.ones(len(self.claims)),
            "serious": _floats(self.claims["severity"].isin(_SERIOUS)),
        }
        per_cell = {key: panel.add(claim_con, self.claim_month, w) for key, w in weights.items()}
        per_cell["hours"] = panel.add(sm_con, self.sm_month, _floats(self.sm["worker_hours"]))
        per_cell["started"] = panel.add(
            np.where(started, row_con, -1), np.where(started, first, 0), np.ones(len(first))
        )
        totals = {}
        for key, cells in per_cell.items():
            full = np.full(self.n, np.nan)
            full[known] = at.before(panel.running(cells))
            totals[key] = full
        return totals

    def contractor_record(self) -> Record:
        """Each target's contractor's record on its other sites: its totals less the
        site's own (:mod:`models.features.contractor`)."""
        total = self.contractor_totals()
        own = self.history.past(self.t_ent, self.t_month, window=False)
        # Own hours subtracted from the contractor's: treat a residue as no exposure.
        hours = total["hours"] - own.worker_hours
        hours = np.where(hours > 1e-9 * total["hours"], hours, 0.0)
        return Record(
            other_sites=total["started"] - (own.months_of_history > 0),
            worker_hours=hours,
            claims=total["count"] - own.claims,
            serious_claims=total["serious"] - own.serious_claims,
        )


class _MonthColumns(Mapping[str, F64]):
    """``site_months`` value columns as floats, parsed when asked for (``stage`` as its
    position in ``spec.STAGES``)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __getitem__(self, column: str) -> F64:
        if column == "stage":
            return _codes(self.frame["stage"], spec.STAGES)
        return _floats(self.frame[column])

    def __iter__(self) -> Iterator[str]:
        return iter(c for c in self.frame.columns if c not in ("site_id", "month"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Targets gathered and computed at a time: bounds the windows' memory on big folders.
_CHUNK = 4096


def build_features(
    sites: pd.DataFrame,
    site_months: pd.DataFrame,
    claims: pd.DataFrame,
    targets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per target (default: every site_months row), in target order:
    ``site_id``, ``month``, ``exposure`` (worker_hours of that month, NaN when the
    month has no row, e.g. a quote), then ``FEATURE_NAMES`` as float64.

    A target month m sees sites attributes, site_months rows before m and claims
    with incident_date before m's first day, nothing else.
    """
    _require(sites, "sites")
    _require(site_months, "site_months")
    _require(claims, "claims")
    if targets is None:
        targets = site_months[["site_id", "month"]]
    b = _Builder(sites, site_months, claims, targets)
    record = b.contractor_record()
    # column-major: each feature is handed to pandas as one block row
    values = np.empty((b.n, len(FEATURES)), dtype=np.float64, order="F")
    for lo in range(0, b.n, _CHUNK):
        rows = slice(lo, min(lo + _CHUNK, b.n))
        part = Record(*(np.asarray(v)[rows] for v in record))
        values[rows] = compute(b.past(rows), b.site_facts(rows), b.t_month[rows], part)
    exposure = b.exposure()
    frame = pd.DataFrame(values, columns=list(FEATURE_NAMES), copy=False)
    frame.insert(0, "exposure", exposure)
    frame.insert(0, "month", targets["month"].array)
    frame.insert(0, "site_id", targets["site_id"].array)
    return frame


def contractor_records(
    sites: pd.DataFrame,
    site_months: pd.DataFrame,
    claims: pd.DataFrame,
    targets: pd.DataFrame,
) -> pd.DataFrame:
    """Each target's contractor record (``site_id``, ``month``, then the fields of
    :class:`~models.features.contractor.Record`), worked out exactly as
    :func:`build_features` works it out for its contractor features."""
    _require(sites, "sites")
    _require(site_months, "site_months")
    _require(claims, "claims")
    record = _Builder(sites, site_months, claims, targets).contractor_record()
    frame = pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in record._asdict().items()})
    frame.insert(0, "month", targets["month"].array)
    frame.insert(0, "site_id", targets["site_id"].array)
    return frame


def to_matrix(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The features of a ``build_features`` frame as float64 (n, len(FEATURES))."""
    return np.ascontiguousarray(frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64))
