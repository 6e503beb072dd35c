"""Which contract rewards a site has earned, criterion by criterion.

Every tier of the rule set is listed, eligible or not, with each criterion's actual
figure, threshold and gap, so a site can see what it is missing. A metric the site
did not report (or reported in fewer than ``min_months`` months of the window) is
``None`` and is not met: missing data never earns a reward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from models.pricing.history import (
    claims_window,
    gap,
    meets,
    month_number,
    months_window,
    values,
)
from models.pricing.rulesets import Criterion, IncentiveRuleSet, Metric, Operator

_PER_10K = 1e4


class CriterionResult(NamedTuple):
    # a named tuple (cheap to build): twenty of them a quote, twenty thousand a portfolio
    name: str
    zh: str
    en: str
    metric: Metric
    column: str | None
    window_months: int | None
    operator: Operator
    threshold: float
    actual: float | None  # None: not reported
    months_reported: int | None  # months of the window with a value; None if not month-based
    met: bool
    gap: float | None  # distance to the threshold, 0 when met, None when not reported


@dataclass(frozen=True, slots=True)
class TierResult:
    name: str
    zh: str
    en: str
    description: str
    eligible: bool
    criteria: tuple[CriterionResult, ...]

    @property
    def unmet(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.criteria if not c.met)


@dataclass(frozen=True, slots=True)
class IncentiveResult:
    version: str
    label: str
    start_month: str
    risk_percentile: float | None
    tiers: tuple[TierResult, ...]

    @property
    def eligible(self) -> tuple[str, ...]:
        """Names of the tiers earned."""
        return tuple(t.name for t in self.tiers if t.eligible)


def _single_site(frame: pd.DataFrame, table: str) -> None:
    if "site_id" in frame.columns and frame["site_id"].nunique(dropna=True) > 1:
        raise ValueError(f"{table} holds rows of several sites; pass one site's rows")


def _measure(
    c: Criterion, months: pd.DataFrame, claims: pd.DataFrame, start: str, pct: float | None
) -> tuple[float | None, int | None]:
    if c.metric == "risk_percentile":
        return (None if pct is None or math.isnan(pct) else float(pct)), None
    assert c.window_months is not None  # the loader requires it for every other metric
    if c.metric == "claims_count":
        window = claims_window(claims, start, c.window_months)
        if window.empty:
            return 0.0, None
        if "severity" not in window.columns:
            raise ValueError("claims rows need a 'severity' column")
        return float(window["severity"].isin(c.severities).sum()), None

    assert c.column is not None
    window = months_window(months, start, c.window_months)
    v = values(window, c.column)
    seen = ~np.isnan(v)
    n = int(seen.sum())
    if n < c.min_months or n == 0:
        return None, n
    reported = v[seen]
    match c.metric:
        case "months_mean":
            return float(reported.mean()), n
        case "months_min":
            return float(reported.min()), n
        case "months_sum":
            return float(reported.sum()), n
        case "per_10k_worker_hours":
            hours = values(window, "worker_hours")[seen]
            total = float(np.nansum(hours))
            if total <= 0:
                return None, n
            return float(reported.sum()) / total * _PER_10K, n
    raise ValueError(f"unknown metric {c.metric!r}")  # pragma: no cover - loader checks


def evaluate_incentives(
    rule_set: IncentiveRuleSet,
    months: pd.DataFrame,
    claims: pd.DataFrame,
    start_month: str,
    risk_percentile: float | None,
) -> IncentiveResult:
    """Hold one site's history before ``start_month`` against every tier's criteria.

    ``months`` and ``claims`` are the site's rows in the contract's columns;
    ``risk_percentile`` is the model's peer percentile (0 = safest), None if unknown.
    """
    month_number(start_month)  # a bad month fails here, whatever the criteria
    _single_site(months, "site_months")
    _single_site(claims, "claims")
    tiers: list[TierResult] = []
    for tier in rule_set.tiers:
        results: list[CriterionResult] = []
        for c in tier.criteria:
            actual, n = _measure(c, months, claims, start_month, risk_percentile)
            results.append(
                CriterionResult(
                    name=c.name,
                    zh=c.zh,
                    en=c.en,
                    metric=c.metric,
                    column=c.column,
                    window_months=c.window_months,
                    operator=c.operator,
                    threshold=c.threshold,
                    actual=actual,
                    months_reported=n,
                    met=meets(actual, c.operator, c.threshold),
                    gap=gap(actual, c.operator, c.threshold),
                )
            )
        tiers.append(
            TierResult(
                name=tier.name,
                zh=tier.zh,
                en=tier.en,
                description=tier.description,
                eligible=all(r.met for r in results),
                criteria=tuple(results),
            )
        )
    return IncentiveResult(
        version=rule_set.version,
        label=rule_set.label,
        start_month=start_month,
        risk_percentile=risk_percentile,
        tiers=tuple(tiers),
    )
