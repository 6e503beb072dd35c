"""The model bundle: everything the service needs to price, in one self-contained
object that training writes and serving reads.

LightGBM boosters with a log link and worker-hours as the exposure offset. The loss
rate (incurred CNY per worker-hour) is ``exp(sum of terms + balance)``, each term a
booster's raw score times a calibration slope: one Tweedie booster, or a Poisson
frequency booster plus a Gamma severity booster. The frequency booster also gives the
expected claim count. The balance terms make predicted totals equal actual totals on
the training data. Two more boosters, ``hours`` and ``trend``, project a policy
term's worker-hours and how the rate moves over it (:mod:`models.exposure`), so the
term's expected loss is one computation (:meth:`ModelBundle.term_risk`) wherever a price
is made. Scores are computed from a float64 matrix in the feature definition's column
order, never from a DataFrame, so the hot path stays in numpy.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from models.exposure import HOURS_FEATURES, PROJECTION, TERM_COLUMN, hours_matrix
from models.features.definition import CATEGORIES
from models.predict import DirectPredictor, Output

FloatArray = npt.NDArray[np.float64]

BUNDLE_FORMAT = "3"
_META_FILE = "bundle.json"
# Below this many rows a prediction runs on the calling thread alone: waking OpenMP's
# threads costs more than a few rows' trees, and a service runs requests side by side
# anyway. Larger inputs use every core. The number of threads never changes a result.
# ``threads`` of the scoring methods overrides that (a caller running other work beside).
SMALL_INPUT: Final = 64
CORES: Final = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
# A class (project type and stage) with fewer reference sites ranks nobody: its
# percentile is unknown, never the all-peers one (docs/model.md).
CLASS_MIN_SITES: Final = 10
CLASS_QUANTILES: Final = 101  # a class's predicted rates kept as percent quantiles

SiteClassKey = tuple[str, str]  # (project type, stage)


def class_name(project_type: str, stage: str) -> str:
    """A class's key in :attr:`BundleMeta.class_rates`: ``project_type/stage``."""
    return f"{project_type}/{stage}"


def feature_class(project_type: float, stage_last: float) -> SiteClassKey | None:
    """A feature row's class from its coded ``project_type`` and ``stage_last`` (the stage
    of its latest month); None when either is missing (no month yet: no stage)."""
    if project_type != project_type or stage_last != stage_last:  # NaN
        return None
    types, stages = CATEGORIES["project_type"], CATEGORIES["stage_last"]
    t, s = int(project_type), int(stage_last)
    if not (0 <= t < len(types) and 0 <= s < len(stages)):
        return None
    return types[t], stages[s]


def _threads(x: FloatArray, threads: int | None) -> int:
    if threads is not None:
        return max(1, threads)
    return 1 if x.shape[0] < SMALL_INPUT else CORES


@dataclass(frozen=True, slots=True)
class BundleMeta:
    """Numbers learned in training that pricing needs besides the trees."""

    feature_set_version: str
    feature_names: tuple[str, ...]
    structure: str  # "frequency_severity" or "tweedie"
    # (booster name, calibration slope) whose scaled raw scores add up to the log rate
    loss_terms: tuple[tuple[str, float], ...]
    loss_log_balance: float
    freq_slope: float
    freq_log_balance: float
    tweedie_power: float | None
    # sorted predicted loss rates (CNY per worker-hour) of the reference peers
    peer_rates: tuple[float, ...]
    # median of each feature among the reference peers (NaN-free values only)
    peer_medians: dict[str, float]
    trained_at: str
    data_fingerprint: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    format: str = BUNDLE_FORMAT
    # factors on expected losses and claims by calendar month, January..December: the
    # season as an offset beside exposure, never a feature (training/seasonality.py);
    # empty for bundles made before there was one
    season: tuple[float, ...] = ()
    # the rating plan's book-level figures found at training (training/book.py):
    # book_loss_ratio (c: expected loss over base premium on the latest training
    # month's book), off_balance_factor, and the month, sites and rule versions used
    rating: dict[str, Any] = field(default_factory=dict)
    # the reference peers' predicted rates by class (:func:`class_name`): CLASS_QUANTILES
    # sorted quantiles each, and how many sites each holds; empty for bundles made before
    # (then no class percentile is known)
    class_rates: dict[str, tuple[float, ...]] = field(default_factory=dict)
    class_sites: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TermRisk:
    """What a model expects of policy terms, one entry per row: the season-neutral loss
    rate (CNY per worker-hour) in the start month, the projected worker-hours of the
    whole term, the rate's trend and the mean season factor over it, and the expected
    incurred loss and claim count (rate × trend × season × hours)."""

    rate: FloatArray
    claim_rate: FloatArray
    hours: FloatArray
    trend: FloatArray
    season: FloatArray
    expected_loss: FloatArray
    expected_claims: FloatArray
    log_rate: FloatArray  # the balanced log of ``rate``
    # the balanced log rate of each row of the ``what_ifs`` term_risk was given (none: empty)
    what_if_log_rate: FloatArray


class ModelBundle:
    """A trained site-risk model, ready to score, explain and rank against peers."""

    def __init__(self, boosters: dict[str, lgb.Booster], meta: BundleMeta) -> None:
        missing = {name for name, _ in meta.loss_terms} - boosters.keys()
        needed = {"frequency", *PROJECTION}
        if missing or not needed <= boosters.keys():
            raise ValueError(f"bundle lacks boosters: {sorted(missing | needed)}")
        for name, booster in boosters.items():
            projecting = name in PROJECTION
            expected = (*HOURS_FEATURES, TERM_COLUMN) if projecting else meta.feature_names
            if tuple(booster.feature_name()) != tuple(expected):
                raise ValueError(f"{name} booster's features differ from the bundle's list")
        self.boosters = boosters
        self.meta = meta
        self._predictors = {name: DirectPredictor(b) for name, b in boosters.items()}
        self._terms = [(name, slope) for name, slope in meta.loss_terms]
        self._peer = np.asarray(meta.peer_rates, dtype=np.float64)
        self._class = {
            name: np.asarray(q, dtype=np.float64)
            for name, q in meta.class_rates.items()
            if meta.class_sites.get(name, 0) >= CLASS_MIN_SITES and len(q)
        }
        self._base_value: float | None = None
        # (start month, months) -> factor: a portfolio has few distinct terms
        self._term_season: dict[tuple[str, float], float] = {}

    # -- scoring ------------------------------------------------------------------------
    def raw_score(self, name: str, x: FloatArray, *, threads: int | None = None) -> FloatArray:
        """Booster ``name``'s raw score (log scale, before calibration) of rows ``x``."""
        return self._predictors[name].predict(x, Output.RAW, _threads(x, threads))

    def log_rate(self, x: FloatArray, *, threads: int | None = None) -> FloatArray:
        """Balanced log of expected incurred loss per worker-hour."""
        return self.rates(x, threads=threads, claims=False)[0]

    def loss_rate(self, x: FloatArray) -> FloatArray:
        return np.exp(self.log_rate(x))

    def claim_rate(self, x: FloatArray, *, threads: int | None = None) -> FloatArray:
        return self._claim_rate(self.raw_score("frequency", x, threads=threads))

    def rates(
        self, x: FloatArray, *, threads: int | None = None, claims: bool = True
    ) -> tuple[FloatArray, FloatArray]:
        """(:meth:`log_rate`, :meth:`claim_rate`) of rows ``x``, each booster predicting
        once (the frequency booster serves both). Without ``claims`` the second is empty."""
        return self._rates(x, x.shape[0] if claims else None, threads)

    def _rates(
        self, x: FloatArray, claim_rows: int | None, threads: int | None
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`rates` with the claim rate of the first ``claim_rows`` rows only."""
        raw = {name: self.raw_score(name, x, threads=threads) for name, _ in self._terms}
        total = np.full(x.shape[0], self.meta.loss_log_balance, dtype=np.float64)
        for name, slope in self._terms:
            total += slope * raw[name]
        if claim_rows is None:
            return total, np.empty(0)
        frequency = raw.get("frequency")
        if frequency is None:
            frequency = self.raw_score("frequency", x[:claim_rows], threads=threads)
        return total, self._claim_rate(frequency[:claim_rows])

    def _claim_rate(self, raw: FloatArray) -> FloatArray:
        return np.exp(self.meta.freq_slope * raw + self.meta.freq_log_balance)

    def projection(
        self, x: FloatArray, terms: npt.ArrayLike, *, threads: int | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """(mean worker-hours per month, rate trend) over terms of ``terms`` months from
        the month each row of ``x`` was built for (months after the works end count zero
        hours; the trend is the later months' rate over this month's)."""
        h = hours_matrix(x, self.meta.feature_names, terms)
        n = _threads(h, threads)
        hours = np.exp(self._predictors["hours"].predict(h, Output.RAW, n))
        trend = np.exp(self._predictors["trend"].predict(h, Output.RAW, n))
        return hours, trend

    def term_risk(
        self,
        x: FloatArray,
        start_months: npt.ArrayLike,
        terms: npt.ArrayLike,
        *,
        threads: int | None = None,
        what_ifs: FloatArray | None = None,
    ) -> TermRisk:
        """Expected loss and claims over policy terms of ``terms`` months starting in
        ``start_months`` ('YYYY-MM'), each row of ``x`` built for its start month: rate ×
        trend × season × projected worker-hours. One computation for the quote, the book priced
        in training, and ``siterisk score``.

        ``what_ifs``, more feature rows (a quote's what-ifs), get their log rate in the
        same prediction as ``x``'s: each booster is called once and reads its trees
        from memory once (most of what predicting a few rows costs)."""
        n = x.shape[0]
        starts = np.asarray(start_months).ravel()
        months = np.broadcast_to(np.asarray(terms, dtype=np.float64), (n,))
        rows = x if what_ifs is None or not len(what_ifs) else np.concatenate((x, what_ifs))
        # the loss boosters first: a quote has just explained its rows with them
        # (TreeSHAP), and their trees are still in the CPU's caches (a pass over a
        # booster's trees from memory costs about 0.3 ms, whatever the rows)
        log_rates, claim_rate = self._rates(rows, n, threads)
        log_rate = log_rates[:n]
        rate = np.exp(log_rate)
        per_month, trend = self.projection(x, months, threads=threads)
        hours = per_month * months
        season = np.fromiter(
            (
                self.term_season_factor(str(s), float(t))
                for s, t in zip(starts, months, strict=True)
            ),
            np.float64,
            x.shape[0],
        )
        return TermRisk(
            rate=rate,
            claim_rate=claim_rate,
            hours=hours,
            trend=trend,
            season=season,
            expected_loss=rate * trend * season * hours,
            expected_claims=claim_rate * trend * season * hours,
            log_rate=log_rate,
            what_if_log_rate=log_rates[n:],
        )

    def season_factor(self, months: npt.ArrayLike) -> FloatArray:
        """The season's factor for each 'YYYY-MM' month (ones without a season table)."""
        moy = np.fromiter((int(str(m)[5:7]) for m in np.asarray(months).ravel()), np.int64)
        if len(self.meta.season) != 12:
            return np.ones(moy.size, dtype=np.float64)
        return np.asarray(self.meta.season, dtype=np.float64)[moy - 1]

    def term_season_factor(self, start_month: str, months: float) -> float:
        """Mean season factor over a cover of ``months`` (fractional at the end) from
        ``start_month``: a twelve-month term gets about one, a summer-only one more."""
        key = (start_month, months)
        found = self._term_season.get(key)
        if found is None:
            found = self._term_season_factor(start_month, months)
            if len(self._term_season) < 100_000:
                self._term_season[key] = found
        return found

    def _term_season_factor(self, start_month: str, months: float) -> float:
        if len(self.meta.season) != 12 or months <= 0:
            return 1.0
        year, month = int(start_month[:4]), int(start_month[5:7])
        weights: list[float] = []
        labels: list[str] = []
        for i in range(math.ceil(months)):
            index = month - 1 + i
            labels.append(f"{year + index // 12:04d}-{index % 12 + 1:02d}")
            weights.append(min(1.0, months - i))
        w = np.asarray(weights, dtype=np.float64)
        return float(np.sum(w * self.season_factor(labels)) / w.sum())

    # -- explanation --------------------------------------------------------------------
    def tree_contributions(
        self, name: str, x: FloatArray, *, threads: int | None = None
    ) -> FloatArray:
        """Exact TreeSHAP of one booster (LightGBM ``pred_contrib``): shape (n, p + 1), the
        last column the expected value; rows add up to that booster's raw score."""
        return self._predictors[name].predict(x, Output.CONTRIB, _threads(x, threads))

    def contributions(self, x: FloatArray, *, threads: int | None = None) -> FloatArray:
        """Exact TreeSHAP of the priced log rate: the sum over terms of each booster's
        contributions times its slope (SHAP is additive and linear in the model). Rows
        plus the balance term add up to ``log_rate``; the last column plus the balance
        term is ``base_value``."""
        total: FloatArray | None = None
        for name, slope in self.meta.loss_terms:
            part = slope * self.tree_contributions(name, x, threads=threads)
            total = part if total is None else total + part
        assert total is not None
        return total

    @property
    def base_value(self) -> float:
        """The book's average log rate: TreeSHAP's expected value, calibrated and balanced.
        ``exp(base_value)`` is the baseline rate relativities are measured against."""
        if self._base_value is None:
            probe = np.full((1, len(self.meta.feature_names)), np.nan)
            bias = float(self.contributions(probe)[0, -1])
            self._base_value = bias + self.meta.loss_log_balance
        return self._base_value

    # -- peers --------------------------------------------------------------------------
    def percentile(self, rate: FloatArray) -> FloatArray:
        """Share of reference peers (0–100) with a lower predicted loss rate."""
        if self._peer.size == 0:
            return np.full_like(np.asarray(rate, dtype=np.float64), 50.0)
        pos = np.searchsorted(self._peer, rate, side="left")
        return np.asarray(100.0 * pos / self._peer.size, dtype=np.float64)

    def class_percentile(
        self, rates: FloatArray, classes: Sequence[SiteClassKey | None]
    ) -> FloatArray:
        """Each rate's share (0–100) of the reference peers of its own class (project
        type and stage) with a lower predicted loss rate; NaN where the class is unknown,
        has fewer than CLASS_MIN_SITES sites, or the bundle predates class rates. Never
        the all-peers :meth:`percentile` instead."""
        values = np.asarray(rates, dtype=np.float64)
        if values.shape != (len(classes),):
            raise ValueError("class_percentile: one class per rate")
        out = np.full(values.shape, np.nan, dtype=np.float64)
        for i, found in enumerate(classes):
            q = None if found is None else self._class.get(class_name(*found))
            if q is not None:
                out[i] = 100.0 * np.searchsorted(q, values[i], side="left") / q.size
        return out

    # -- persistence --------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, booster in self.boosters.items():
            booster.save_model(str(folder / f"{name}_model.txt"))
        meta = asdict(self.meta)
        (folder / _META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        raw = json.loads((folder / _META_FILE).read_text())
        if raw.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"unsupported bundle format {raw.get('format')!r} in {folder}")
        raw["feature_names"] = tuple(raw["feature_names"])
        raw["peer_rates"] = tuple(raw["peer_rates"])
        raw["loss_terms"] = tuple((str(n), float(s)) for n, s in raw["loss_terms"])
        raw["season"] = tuple(float(f) for f in raw.get("season", ()))
        raw["class_rates"] = {
            str(k): tuple(float(v) for v in q) for k, q in raw.get("class_rates", {}).items()
        }
        raw["class_sites"] = {str(k): int(n) for k, n in raw.get("class_sites", {}).items()}
        meta = BundleMeta(**raw)
        names = {n for n, _ in meta.loss_terms} | {"frequency", *PROJECTION}
        boosters = {n: lgb.Booster(model_file=str(folder / f"{n}_model.txt")) for n in names}
        return cls(boosters, meta)
