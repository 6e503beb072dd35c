"""Fitting the term projection (:mod:`models.exposure`) from the data's own later months.
For a site active in month m and a term of h months:

- ``hours``: the mean attended worker-hours per month over the term, months after the
  works end counting zero;
- ``trend``: the loss model's rate over those months (from each later month's own
  features), worker-hour weighted, over its rate in month m. A site leaving its
  foundation stage gets safer; priced at today's rate for the whole year it would be
  over-charged (on the project's worlds by about a fifth).

Targets come from the learning months only (never the test months), so the adequacy
report on the test months judges the projection out of sample too. Each learning row
is paired with every horizon whose months the data still covers; rows are thinned to
``MAX_ROWS`` (seeded) so training time stays flat on large books.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from models import features as fdef
from models.exposure import HOURS_CATEGORICAL, HOURS_FEATURES, TERM_COLUMN, hours_matrix
from training.fit import FitConfig

FloatArray = npt.NDArray[np.float64]
HORIZONS: Final = (1, 3, 6, 12, 18, 24, 36)
MAX_ROWS: Final = 60_000
ROUNDS: Final = 300


def future_sum(
    values: pd.DataFrame, rows: pd.DataFrame, horizon: int, months: Sequence[str]
) -> FloatArray:
    """The sum of ``values["value"]`` of each row's site over ``horizon`` months from the
    row's month (months without a value count zero); NaN where ``months`` (the calendar
    the data covers, in order) ends before the horizon does."""
    index = {m: i for i, m in enumerate(months)}
    sites = pd.Index(pd.unique(values["site_id"]))
    grid = np.zeros((len(sites), len(months) + 1), dtype=np.float64)
    known = values["month"].isin(index)
    s = sites.get_indexer(pd.Index(values.loc[known, "site_id"]))
    j = values.loc[known, "month"].map(index).to_numpy(np.int64)
    np.add.at(grid, (s, j + 1), values.loc[known, "value"].fillna(0.0).to_numpy(np.float64))
    cum = np.cumsum(grid, axis=1)
    rs = sites.get_indexer(pd.Index(rows["site_id"]))
    rj = rows["month"].map(index).to_numpy(np.float64)
    out = np.full(len(rows), np.nan)
    ok = (rs >= 0) & np.isfinite(rj)
    rj_i = np.where(ok, rj, 0).astype(np.int64)
    ok &= rj_i + horizon <= len(months)
    end = np.minimum(rj_i + horizon, len(months))
    out[ok] = cum[rs[ok], end[ok]] - cum[rs[ok], rj_i[ok]]
    return out


@dataclass(frozen=True)
class ProjectionRows:
    x: FloatArray  # hours_matrix rows: the projection's features and the term
    hours: FloatArray  # mean worker-hours per month over the term
    trend: FloatArray  # later months' rate over the start month's, hour-weighted
    trend_weight: FloatArray  # the term's worker-hours


def projection_rows(
    frame: pd.DataFrame, rate: FloatArray, learning_months: Sequence[str], *, seed: int
) -> ProjectionRows:
    """Targets for every learning row with exposure and every horizon the learning
    months cover; ``rate`` is the loss model's rate of every row of ``frame``."""
    months = list(learning_months)
    exposure = frame["exposure"].fillna(0.0).to_numpy(np.float64)
    hours = pd.DataFrame({"site_id": frame["site_id"], "month": frame["month"], "value": exposure})
    loss = hours.assign(value=exposure * rate)
    pick = frame["month"].isin(set(months)).to_numpy() & (exposure > 0.0)
    rows = frame[pick]
    row_rate = rate[pick]
    if len(rows) > MAX_ROWS:
        keep = np.random.default_rng(seed).choice(len(rows), MAX_ROWS, replace=False)
        keep.sort()
        rows, row_rate = rows.iloc[keep], row_rate[keep]
    x = fdef.to_matrix(rows)
    names = tuple(fdef.FEATURE_NAMES)
    parts: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = []
    for h in HORIZONS:
        total_hours = future_sum(hours, rows, h, months)
        total_loss = future_sum(loss, rows, h, months)
        keep = np.isfinite(total_hours)
        if not keep.any():
            continue
        th, tl, rr = total_hours[keep], total_loss[keep], row_rate[keep]
        trend = np.divide(tl, rr * th, out=np.ones_like(th), where=th > 0)
        parts.append((hours_matrix(x[keep], names, h), th / h, trend, th))
    if not parts:
        raise ValueError("no learning month has a later month to project worker-hours from")
    return ProjectionRows(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def _poisson(
    x: FloatArray, y: FloatArray, weight: FloatArray | None, cfg: FitConfig
) -> lgb.Booster:
    names = [*HOURS_FEATURES, TERM_COLUMN]
    data = lgb.Dataset(
        x,
        label=y,
        weight=weight,
        feature_name=names,
        categorical_feature=[names.index(c) for c in HOURS_CATEGORICAL],
        free_raw_data=True,
    )
    params = {
        "objective": "poisson",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "num_threads": cfg.threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    return lgb.train(params, data, num_boost_round=ROUNDS)


def fit_projection(
    frame: pd.DataFrame, rate: FloatArray, learning_months: Sequence[str], cfg: FitConfig
) -> dict[str, lgb.Booster]:
    """The ``hours`` and ``trend`` boosters, both Poisson (log link): mean monthly
    worker-hours, and the rate trend weighted by the term's worker-hours (so the
    projected expected loss adds up over the book)."""
    rows = projection_rows(frame, rate, learning_months, seed=cfg.seed)
    has_hours = rows.trend_weight > 0
    return {
        "hours": _poisson(rows.x, rows.hours, None, cfg),
        "trend": _poisson(
            rows.x[has_hours], rows.trend[has_hours], rows.trend_weight[has_hours], cfg
        ),
    }
