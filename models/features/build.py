"""Features for (site, month) targets, from data strictly before each target month.

Each site (and each contractor) gets a row of consecutive calendar months laid
end to end in flat arrays (a ragged panel). A target then reads month ``m - j``
at a fixed offset from its own cell, so trailing windows are a few gathers and
"everything before m" is a per-entity running sum read one cell before ``m``.
Everything is vectorised over targets; nothing loops over sites. ``single.py`` computes
the same features for one site in plain Python, to the bit: change both together.

Running sums restart for every entity (rather than one global cumsum minus an
offset) so that one site's data can never shift another site's value, not even
by a rounding step; the leakage and monotonicity tests compare exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.contract import spec
from models.features.contractor import Record, contractor_feature
from models.features.definition import (
    CATEGORIES,
    FEATURE_NAMES,
    FEATURES,
    MONTH_DAYS,
    PER_10K,
    RECIPES,
    Recipe,
)

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

# every window asked for, per (kind, columns)
_WINDOWS: dict[tuple[str, tuple[str, ...]], set[int]] = {}
for _recipe in RECIPES.values():
    if _recipe.window is not None:
        _WINDOWS.setdefault((_recipe.kind, _recipe.columns), set()).add(_recipe.window)


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


def _month_first_day(months: I64) -> F64:
    first = (months - _EPOCH_MONTH).astype("datetime64[M]").astype("datetime64[D]")
    return first.astype(np.int64).astype(np.float64)


def _codes(values: pd.Series, categories: tuple[str, ...]) -> F64:
    """Position in ``categories`` as float, NaN for missing or unknown values."""
    codes, uniques = pd.factorize(values)
    positions = pd.Index(categories).get_indexer(pd.Index(uniques).astype(object))
    found = np.append(positions, -1)[codes]  # code -1 (missing) reads the appended -1
    return np.where(found >= 0, found, np.nan).astype(np.float64)


def _ratio(num: F64, den: F64) -> F64:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


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
    cell belongs to no entity and stays empty: reads before an entity's first month
    land there, so a trailing window is a single gather."""

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

    @property
    def empty_cell(self) -> int:
        return len(self.entity) - 1

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
        """Running sum within each entity (NaN counts as 0): a plain left-to-right sum
        from the entity's first cell, which ``single.py`` repeats exactly for one site.
        Each entity gets a row of a zero-padded grid, so the sums restart per entity."""
        filled = np.nan_to_num(cells, nan=0.0)
        start = np.append(self.off, self.size - 1)
        pos = np.arange(self.size, dtype=np.int64) - start[self.entity]
        grid = np.zeros((len(start), int(pos.max()) + 1))
        grid[self.entity, pos] = filled
        np.cumsum(grid, axis=1, out=grid)
        return np.asarray(grid[self.entity, pos], dtype=np.float64)


@dataclass(frozen=True)
class _Targets:
    """Targets placed in a panel: ``base`` is the cell of the target month itself,
    ``depth`` how many earlier cells the entity has."""

    base: I64
    depth: I64
    first: I64  # the entity's first cell
    empty_cell: int
    _behind: dict[int, I64]

    @classmethod
    def locate(cls, panel: _Panel, ent: I64, month: I64) -> _Targets:
        lo = panel.lo[ent]
        return cls(panel.off[ent] + month - lo, month - lo, panel.off[ent], panel.empty_cell, {})

    def back(self, cells: F64, j: int) -> F64:
        """Value in the month ``j`` months before each target (NaN before the panel)."""
        if j not in self._behind:
            self._behind[j] = np.where(self.depth >= j, self.base - j, self.empty_cell)
        return cells[self._behind[j]]

    def before(self, running: F64) -> F64:
        """A running sum's total over all months before each target."""
        return running[self.base - 1]

    def last_before(self, present: Mask) -> tuple[I64, Mask]:
        """Latest cell before each target where ``present`` holds, and whether one exists."""
        latest = np.maximum.accumulate(np.where(present, np.arange(len(present)), -1))
        cell = latest[self.base - 1]
        return cell, cell >= self.first


class _Builder:
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
        self.sm_ent = self.sm_site.find(self.site_ids)
        self.sm_month = _months(site_months["month"])
        known = self.sm_ent >= 0
        self.panel = _Panel.spanning(
            len(self.site_ids), self.t_ent, self.t_month, self.sm_ent[known],
            self.sm_month[known],
        )  # fmt: skip
        self.at = _Targets.locate(self.panel, self.t_ent, self.t_month)
        self.sm_cell, self.sm_kept = self.panel.locate(self.sm_ent, self.sm_month)
        self.has_row = self.place(np.ones(len(site_months))) == 1

        # row of each target's site in ``sites`` (-1: unknown site)
        in_sites = pd.Index(sites["site_id"]).get_indexer(self.site_ids).astype(np.int64)
        self.site_row: I64 = in_sites[self.t_ent]
        self.claim_month = (
            pd.to_datetime(self.claims["incident_date"]).to_numpy(dtype="datetime64[M]")
        ).astype(np.int64) + _EPOCH_MONTH
        self._cells: dict[str, F64] = {}
        self._backs: dict[tuple[str, int], F64] = {}
        self._own: dict[str, F64] | None = None
        self._windows: dict[tuple[str, tuple[str, ...]], dict[int, F64]] = {}
        self._contractor: dict[str, F64] | None = None
        self._record: Record | None = None
        self._dates: tuple[F64, F64, F64] | None = None

    # -- monthly data -------------------------------------------------------

    def cells(self, column: str) -> F64:
        if column not in self._cells:
            if column == "stage":
                values = _codes(self.sm["stage"], spec.STAGES)
            else:
                values = _floats(self.sm[column])
            self._cells[column] = self.place(values)
        return self._cells[column]

    def place(self, values: F64) -> F64:
        """A site_months column in the site panel; NaN in months without a row."""
        cells = np.full(self.panel.size, np.nan)
        cells[self.sm_cell] = values[self.sm_kept]
        return cells

    def back(self, column: str, j: int) -> F64:
        key = (column, j)
        if key not in self._backs:
            self._backs[key] = self.at.back(self.cells(column), j)
        return self._backs[key]

    def forget(self, column: str) -> None:
        self._cells.pop(column, None)
        for key in [k for k in self._backs if k[0] == column]:
            del self._backs[key]

    def count_rate(self, column: str, windows: tuple[int, ...], online: bool) -> dict[int, F64]:
        num = np.zeros(self.n)
        den = np.zeros(self.n)
        out = {}
        for j in range(1, max(windows) + 1):
            v = self.back(column, j)
            hours = self.back("worker_hours", j)
            if online:
                hours = hours * self.back("device_online_rate", j)
            reported = ~np.isnan(v) & ~np.isnan(hours)
            num += np.where(reported, v, 0.0)
            den += np.where(reported, hours, 0.0)
            if j in windows:
                out[j] = _ratio(num, den) * PER_10K
        return out

    def unrectified_rate(self, found: str, rate: str, windows: tuple[int, ...]) -> dict[int, F64]:
        """Hazards found and not rectified, ``found * (1 - rate)``, per 10k worker-hours.
        A month counts when ``found`` and the hours are reported and either the rate is
        too or nothing was found (then nothing is unrectified, whatever the rate)."""
        num = np.zeros(self.n)
        den = np.zeros(self.n)
        out = {}
        for j in range(1, max(windows) + 1):
            h = self.back(found, j)
            r = self.back(rate, j)
            hours = self.back("worker_hours", j)
            none = h == 0.0
            reported = ~np.isnan(h) & ~np.isnan(hours) & (none | ~np.isnan(r))
            num += np.where(reported & ~none, h * (1.0 - r), 0.0)
            den += np.where(reported, hours, 0.0)
            if j in windows:
                out[j] = _ratio(num, den) * PER_10K
        return out

    def mean(self, column: str, windows: tuple[int, ...]) -> dict[int, F64]:
        total = np.zeros(self.n)
        count = np.zeros(self.n)
        out = {}
        for j in range(1, max(windows) + 1):
            v = self.back(column, j)
            reported = ~np.isnan(v)
            total += np.where(reported, v, 0.0)
            count += reported
            if j in windows:
                out[j] = _ratio(total, count)
        return out

    def reported_share(self, columns: tuple[str, ...], windows: tuple[int, ...]) -> dict[int, F64]:
        any_reported = np.zeros(self.panel.size, dtype=bool)
        for column in columns:
            any_reported |= ~np.isnan(self.cells(column))
        cells = any_reported.astype(np.float64)
        months = np.zeros(self.n)
        out = {}
        for j in range(1, max(windows) + 1):
            months += self.at.back(cells, j)
            if j in windows:
                out[j] = months / j
        return out

    def months_of_history(self) -> F64:
        return self.at.before(self.panel.running(self.has_row.astype(np.float64)))

    def months_since_data(self) -> F64:
        cell, found = self.at.last_before(self.has_row)
        return np.where(found, self.at.base - cell, np.nan).astype(np.float64)

    def last(self, column: str) -> F64:
        values = self.cells(column)
        cell, found = self.at.last_before(~np.isnan(values))
        return np.where(found, values[cell], np.nan)

    # -- sites ----------------------------------------------------------------

    def site_values(self, values: F64) -> F64:
        return _take(values, self.site_row)

    def site(self, name: str, column: str) -> F64:
        if name in CATEGORIES:
            return self.site_values(_codes(self.sites[column], CATEGORIES[name]))
        return self.site_values(_floats(self.sites[column]))

    def log_site(self, column: str) -> F64:
        v = self.site(column, column)
        out = np.full(self.n, np.nan)
        np.log(v, out=out, where=v > 0)
        return out

    def calendar(self, stat: str) -> F64:
        if self._dates is None:
            self._dates = (
                self.site_values(_days(self.sites["start_date"])),
                self.site_values(_days(self.sites["planned_end_date"])),
                _month_first_day(self.t_month),
            )
        start, end, day = self._dates
        if stat == "project_age_months":
            return (day - start) / MONTH_DAYS
        if stat == "planned_duration_months":
            return (end - start) / MONTH_DAYS
        if stat == "planned_elapsed_share":
            return _ratio(day - start, end - start)
        if stat == "months_to_planned_end":
            return (end - day) / MONTH_DAYS
        raise KeyError(stat)

    # -- claims ---------------------------------------------------------------

    def claim_weights(self) -> dict[str, F64]:
        c = self.claims
        # counts only: a record pools every insurer's claims, amounts stay each one's own
        return {
            "count": np.ones(len(c)),
            "serious": _floats(c["severity"].isin(_SERIOUS)),
        }

    def own_totals(self) -> dict[str, F64]:
        """The site's own totals over all months before each target."""
        if self._own is None:
            ent = self.claim_site.find(self.site_ids)
            p = self.panel
            own = {
                key: self.at.before(p.running(p.add(ent, self.claim_month, w)))
                for key, w in self.claim_weights().items()
            }
            own["hours"] = self.at.before(p.running(self.cells("worker_hours")))
            own["started"] = (self.months_of_history() > 0).astype(np.float64)
            self._own = own
        return self._own

    def own_claims(self, stat: str) -> F64:
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

    def contractor_totals(self) -> dict[str, F64]:
        """Totals over all sites of each target's contractor, months before the target
        (NaN where the site, hence its contractor, is not in ``sites``)."""
        if self._contractor is not None:
            return self._contractor
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

        per_cell = {
            key: panel.add(claim_con, self.claim_month, w)
            for key, w in self.claim_weights().items()
        }
        per_cell["hours"] = panel.add(sm_con, self.sm_month, _floats(self.sm["worker_hours"]))
        per_cell["started"] = panel.add(
            np.where(started, row_con, -1), np.where(started, first, 0), np.ones(len(first))
        )
        totals = {}
        for key, cells in per_cell.items():
            full = np.full(self.n, np.nan)
            full[known] = at.before(panel.running(cells))
            totals[key] = full
        self._contractor = totals
        return totals

    def contractor_record(self) -> Record:
        """Each target's contractor's record on its other sites: its totals less the
        site's own (:mod:`models.features.contractor`)."""
        if self._record is None:
            total = self.contractor_totals()
            own = self.own_totals()
            # Own hours subtracted from the contractor's: treat a residue as no exposure.
            hours = total["hours"] - own["hours"]
            hours = np.where(hours > 1e-9 * total["hours"], hours, 0.0)
            self._record = Record(
                other_sites=total["started"] - own["started"],
                worker_hours=hours,
                claims=total["count"] - own["count"],
                serious_claims=total["serious"] - own["serious"],
            )
        return self._record

    def contractor_claims(self, stat: str) -> F64:
        return contractor_feature(stat, self.contractor_record())

    # -- dispatch -------------------------------------------------------------

    def windowed(self, recipe: Recipe) -> F64:
        """A trailing-window feature; all windows of one (kind, columns) come from
        one pass over the months and wait here until asked for."""
        key = (recipe.kind, recipe.columns)
        if key not in self._windows:
            windows = tuple(sorted(_WINDOWS[key]))
            cols = recipe.columns
            match recipe.kind:
                case "count_rate":
                    self._windows[key] = self.count_rate(cols[0], windows, online=False)
                case "count_rate_online":
                    self._windows[key] = self.count_rate(cols[0], windows, online=True)
                case "unrectified_rate":
                    self._windows[key] = self.unrectified_rate(cols[0], cols[1], windows)
                case "mean":
                    self._windows[key] = self.mean(cols[0], windows)
                case "reported_share":
                    self._windows[key] = self.reported_share(cols, windows)
                case _:
                    raise KeyError(recipe.kind)
        assert recipe.window is not None
        values = self._windows[key].pop(recipe.window)
        if not self._windows[key]:
            del self._windows[key]
        return values

    def compute(self, name: str, recipe: Recipe) -> F64:
        cols = recipe.columns
        match recipe.kind:
            case (
                "count_rate" | "count_rate_online" | "unrectified_rate" | "mean" | "reported_share"
            ):
                return self.windowed(recipe)
            case "months_of_history":
                return self.months_of_history()
            case "months_since_data":
                return self.months_since_data()
            case "last":
                return self.last(cols[0])
            case "site":
                return self.site(name, cols[0])
            case "log_site":
                return self.log_site(cols[0])
            case "calendar":
                return self.calendar(recipe.stat)
            case "own_claims":
                return self.own_claims(recipe.stat)
            case "contractor_claims":
                return self.contractor_claims(recipe.stat)
        raise KeyError(recipe.kind)

    def exposure(self) -> F64:
        return self.cells("worker_hours")[self.at.base]


_SHARED = frozenset({"worker_hours", "device_online_rate"})


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
    # column-major: each feature is written, and handed to pandas, as one block row
    values = np.empty((b.n, len(FEATURES)), dtype=np.float64, order="F")
    previous: tuple[str, ...] = ()
    for i, name in enumerate(FEATURE_NAMES):
        recipe = RECIPES[name]
        # Drop one column's monthly arrays once the features reading it are done.
        for column in set(previous) - set(recipe.columns) - _SHARED:
            b.forget(column)
        values[:, i] = b.compute(name, recipe)
        previous = recipe.columns
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
