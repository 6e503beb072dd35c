"""A criterion's figure from a site's months: each month's parts (value and worker-hours)
and the figure over any set of months. Sums are numpy's, in month order, as
:mod:`models.pricing.site_history` sums, so a quote's figures are what they were."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

PER_10K: Final = 1e4
HOURS: Final = "worker_hours"
# A figure's parts in one month: (value, worker-hours). Rates are sums of values over
# sums of hours; means, minima and sums read the values alone.
Parts = tuple[float, float]
RATES: Final = ("per_10k_worker_hours", "unrectified_hazards_per_10k_worker_hours")


def number(values: Mapping[str, float | None], column: str) -> float | None:
    value = values.get(column)
    if value is None or value != value:  # None or NaN: not reported
        return None
    return float(value)


def parts(metric: str, column: str | None, values: Mapping[str, float | None]) -> Parts | None:
    """One row's parts for a month figure; None: not reported."""
    if metric == "unrectified_hazards_per_10k_worker_hours":
        found = number(values, "hazards_found")
        if found is None:
            return None
        # A null share means no ticket fell due that month (docs/events.md): nothing was
        # left open, so none of the month's hazards count as unrectified yet.
        share = number(values, "hazard_rectification_rate")
        value = 0.0 if found == 0 or share is None else found * (1.0 - share)
    else:
        assert column is not None  # the schema requires it
        found = number(values, column)
        if found is None:
            return None
        value = found
    if metric in RATES:
        hours = number(values, HOURS)
        return None if hours is None else (value, hours)
    return value, 0.0


_add = np.add.reduce  # numpy's own sum (pairwise), as models.pricing.site_history sums


def total(values: Sequence[float]) -> float:
    return float(_add(np.asarray(values, dtype=np.float64)))


def figure(metric: str, parts: Sequence[Parts]) -> float | None:
    """The figure over the months whose parts are given; None when there is none."""
    if not parts:
        return None
    values = [p[0] for p in parts]
    if metric in RATES:
        hours = total([p[1] for p in parts])
        return total(values) / hours * PER_10K if hours > 0 else None
    if metric == "months_min":
        return min(values)
    if metric == "months_sum":
        return total(values)
    return total(values) / len(values)  # months_mean


@dataclass(slots=True)
class Running:
    """A figure over the months so far, kept as running sums (ranks need no more)."""

    metric: str
    total: float = 0.0
    hours: float = 0.0
    months: int = 0

    def add(self, parts: Parts) -> None:
        self.total += parts[0]
        self.hours += parts[1]
        self.months += 1

    def figure(self) -> float | None:
        if self.months == 0:
            return None
        if self.metric in RATES:
            return self.total / self.hours * PER_10K if self.hours > 0 else None
        return self.total / self.months  # months_mean, the other ranked figure
