"""What a site could improve, and the model's own estimate of what it would pay.

For every controllable safety metric of the contract (``spec.controllable()``) where
the site lags, the target is the most demanding incentive threshold on that metric it
misses, or else the peer median. The site's reported history is then moved to the
target (rates raised to it, counts cut to it, never made worse in any month, months not
reported left alone), the features reading that column are computed again
(:mod:`models.features.single`, equal to the batch builder's) and every variant of the
whole request is priced in one batched prediction. The result is labelled a model
estimate: the model says what the premium would be, not that the site would earn it.

Nothing here advises hiding risk (contract v1.1): hazards found are diligence and never
a metric to cut (the unrectified ones are advised through the rectification rate), the
reporting metrics (device-online rate, data completeness) are never advised down, and
a count is advised down only as risk removed, with inspections and reporting kept up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from models.contract import spec
from models.features.single import SiteSeries
from models.pricing.history import month_number
from models.pricing.rulesets import DataQualityRule, IncentiveRuleSet
from models.pricing.site_history import SiteHistory, mean, nan_total, total
from service.quotes.schemas import Recommendation

WINDOW_MONTHS: Final = 6
PER_10K: Final = 1e4
_SLACK: Final = 1e-9
# Never advised down: finding hazards is diligence, and reporting is never penalised.
NEVER_FEWER: Final = frozenset((*spec.DILIGENCE, *spec.reporting()))
CONTROLLABLE: Final = {
    column: direction
    for column, direction in spec.controllable().items()
    if not (direction > 0 and column in NEVER_FEWER)
}
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One metric of one site to move: ``position`` is the site's place in the batch."""

    position: int
    column: str
    direction: int  # +1: fewer is better (a count); -1: more is better (a rate)
    current: float
    target: float
    source: Literal["incentive", "peer_median"]
    reference: str

    @property
    def unit(self) -> str:
        return "share" if self.direction < 0 else "per 10k worker-hours"


def incentive_targets(rules: IncentiveRuleSet) -> dict[str, list[tuple[float, str]]]:
    """Thresholds the incentive tiers set on each controllable column."""
    out: dict[str, list[tuple[float, str]]] = {}
    for tier in rules.tiers:
        for c in tier.criteria:
            if c.column not in CONTROLLABLE:
                continue
            direction = CONTROLLABLE[c.column]
            if (direction < 0 and c.metric == "months_mean" and c.operator == ">=") or (
                direction > 0 and c.metric == "per_10k_worker_hours" and c.operator == "<="
            ):
                out.setdefault(c.column, []).append((c.threshold, f"{tier.name}.{c.name}"))
    return out


def _peer_feature(column: str, direction: int) -> str:
    return f"{column}_{WINDOW_MONTHS}m" if direction < 0 else f"{column}_per_10kwh_{WINDOW_MONTHS}m"


def _current(h: SiteHistory, start: int, column: str, direction: int) -> float | None:
    """A rate's mean over the reported months, or a count per 10k worker-hours of the
    months that reported it (as the incentive criteria measure them)."""
    seen, reported = h.reported(column, start, WINDOW_MONTHS)
    if not reported.size:
        return None
    if direction < 0:
        return mean(reported)
    hours = nan_total(h.column("worker_hours")[h.window(start, WINDOW_MONTHS)][seen])
    return total(reported) / hours * PER_10K if hours > 0 else None


def _lags(current: float, target: float, direction: int) -> bool:
    return current < target - _SLACK if direction < 0 else current > target + _SLACK


def candidates(
    position: int,
    history: SiteHistory,
    start_month: str,
    thresholds: Mapping[str, list[tuple[float, str]]],
    peer_medians: Mapping[str, float],
) -> list[Candidate]:
    """The metrics where one site lags, with the target for each."""
    start = month_number(start_month)
    out = []
    for column, direction in CONTROLLABLE.items():
        current = _current(history, start, column, direction)
        if current is None:
            continue
        missed = [(t, ref) for t, ref in thresholds.get(column, []) if _lags(current, t, direction)]
        if missed:
            pick = max(missed) if direction < 0 else min(missed)
            out.append(
                Candidate(position, column, direction, current, pick[0], "incentive", pick[1])
            )
            continue
        feature = _peer_feature(column, direction)
        median = peer_medians.get(feature)
        if median is not None and math.isfinite(median) and _lags(current, median, direction):
            out.append(
                Candidate(position, column, direction, current, float(median), "peer_median",
                          feature)
            )  # fmt: skip
    return out


def _moved(s: SiteSeries, c: Candidate) -> FloatArray:
    """``c``'s column of ``s`` with each month brought to the target, never made worse;
    not reported (NaN) stays so. A count is cut to what the target rate allows for the
    month's worker-hours (none reported: none allowed)."""
    old = s.column(c.column)
    if c.direction < 0:
        return np.maximum(old, c.target)  # NaN stays NaN
    hours = s.column("worker_hours")
    hours = np.where(np.isnan(hours), 0.0, hours)
    return np.minimum(old, np.floor(c.target * hours / PER_10K + _SLACK))


def _moved_column(s: SiteSeries, c: Candidate) -> SiteSeries:
    return s.with_column(c.column, _moved(s, c))


@dataclass(frozen=True)
class WhatIfSites:
    """The sites whose features a quote's recommendations need: every candidate's
    what-if (in the candidates' order), then the combined plan of every site with two
    or more candidates (``combined_positions``), each with its target month."""

    series: list[SiteSeries]
    targets: list[int]
    combined_positions: list[int]


def what_if_sites(
    found: Sequence[Candidate],
    series: Sequence[SiteSeries],
    targets: Sequence[int],
    *,
    combined: bool = True,
) -> WhatIfSites:
    """Each candidate's what-if: the site's months with the one column moved
    (:func:`_moved`), each variant a site of its own; then (unless not ``combined``)
    one combined plan per site with several candidates, all of its what-ifs carried out
    at once, priced once (``series``, ``targets`` by position)."""
    out = [_moved_column(series[c.position], c) for c in found]
    when = [targets[c.position] for c in found]
    by_site: dict[int, list[Candidate]] = {}
    for c in found:
        by_site.setdefault(c.position, []).append(c)
    positions = [p for p, cs in by_site.items() if len(cs) > 1] if combined else []
    for p in positions:
        s = series[p]
        for c in by_site[p]:
            s = _moved_column(s, c)
        out.append(s)
        when.append(targets[p])
    return WhatIfSites(out, when, positions)


def combined_recommendation(
    cands: Sequence[Candidate], premium: Decimal, saving: Decimal
) -> Recommendation:
    """Every what-if of one site carried out together, priced once through the plan."""
    return Recommendation(
        metric="combined",
        group="",
        direction="increase",
        unit="metrics",
        current=0.0,
        target=float(len(cands)),
        target_source="combined",
        target_reference=",".join(c.column for c in cands),
        estimated_premium_cny=float(premium),
        estimated_saving_cny=float(saving),
    )


def gate_recommendation(
    reasons: Sequence[str],
    rule: DataQualityRule,
    device_online_rate: float | None,
    data_completeness: float | None,
    months: int,
    premium: Decimal,
    saving: Decimal,
) -> Recommendation:
    """The reporting that would unlock a discount the data-quality gate withheld, and
    what it is worth: the quote priced as it is, with the gate passed."""
    first = reasons[0] if reasons else "too_few_months"
    if first.startswith("device_online_rate"):
        metric, current, target, unit = (
            "device_online_rate", device_online_rate or 0.0, rule.min_device_online_rate, "share",
        )  # fmt: skip
    elif first.startswith("data_completeness"):
        metric, current, target, unit = (
            "data_completeness", data_completeness or 0.0, rule.min_data_completeness, "share",
        )  # fmt: skip
    else:
        metric, current, target, unit = (
            "months_reported",
            float(months),
            float(rule.min_months),
            "months",
        )
    return Recommendation(
        metric=metric,
        group="equipment",
        direction="increase",
        unit=unit,
        current=current,
        target=target,
        target_source="data_quality_gate",
        target_reference=",".join(reasons),
        estimated_premium_cny=float(premium),
        estimated_saving_cny=float(saving),
    )


def recommendation(c: Candidate, premium: Decimal, saving: Decimal) -> Recommendation:
    """One what-if as the answer states it (its label and sentence are
    :mod:`service.quotes.texts`')."""
    col = spec.column("site_months", c.column)
    return Recommendation(
        metric=c.column,
        group=col.group.value if col.group is not None else "",
        direction="increase" if c.direction < 0 else "decrease",
        unit=c.unit,
        current=c.current,
        target=c.target,
        target_source=c.source,
        target_reference=c.reference,
        estimated_premium_cny=float(premium),
        estimated_saving_cny=float(saving),
    )
