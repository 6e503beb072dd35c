"""The term projection: what a policy term's exposure and risk will be.

A quote's expected loss is the loss rate times the worker-hours the term will see. The
latest months alone over-project a site that is winding down, know nothing before works
start, and price a whole year at the risk of the current stage. So two LightGBM Poisson
boosters (fitted in ``training/projection.py``) read the site's plan and latest scale
(stage, planned end, duration, contract value, recent hours) and the term's length:

- ``hours``: the mean attended worker-hours per month over the term, zero for months
  after the works end;
- ``trend``: the loss rate over the term (worker-hour weighted) over the rate now.

They read no metric a site controls and no reporting share, so the premium's
monotonicity in the safety metrics (the loss model's constraints) carries through.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TERM_COLUMN: Final = "term_months"
PROJECTION: Final = ("hours", "trend")
# Features (by name, from the feature definition) the projection reads, then the term.
HOURS_FEATURES: Final[tuple[str, ...]] = (
    "worker_hours_3m",
    "avg_daily_workers_3m",
    "months_of_history",
    "months_since_last_data",
    "stage_last",
    "project_type",
    "log_contract_value_cny",
    "floor_area_m2",
    "max_height_m",
    "hazardous_works",
    "tower_cranes",
    "project_age_months",
    "planned_duration_months",
    "planned_elapsed_share",
    "months_to_planned_end",
)
HOURS_CATEGORICAL: Final = ("stage_last", "project_type")


def hours_matrix(x: FloatArray, feature_names: tuple[str, ...], terms: npt.ArrayLike) -> FloatArray:
    """The projection's input: the columns of ``x`` it reads, then the term in months."""
    index = {n: i for i, n in enumerate(feature_names)}
    cols = [index[n] for n in HOURS_FEATURES]
    t = np.broadcast_to(np.asarray(terms, dtype=np.float64), (x.shape[0],))
    return np.ascontiguousarray(np.column_stack([x[:, cols], t]))
