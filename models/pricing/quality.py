"""The data-quality gate: a discount needs smart-site data good enough to trust.

A site whose devices were mostly offline, or whose platform sent little of what it
should, looks safe because it reports little. Over the band's window before the policy
starts the site needs ``min_months`` months of data, and the means of the device online
rate and of the data completeness must reach the band's thresholds; otherwise the
adjustment may raise the premium but not lower it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.pricing.history import meets, months_window, values
from models.pricing.rulesets import Band


@dataclass(frozen=True, slots=True)
class DataQualityCheck:
    """Whether a discount may be given, and why not. ``reasons`` are stable codes:
    ``too_few_months``, ``<column>_not_reported``, ``<column>_low``."""

    band_version: str
    passed: bool
    start_month: str
    window_months: int
    months: int  # site_months rows in the window
    device_online_rate: float | None  # mean over reported months
    data_completeness: float | None
    reasons: tuple[str, ...]


def check_data_quality(band: Band, months: pd.DataFrame, start_month: str) -> DataQualityCheck:
    """Hold the site's months before ``start_month`` against ``band.data_quality``."""
    rule = band.data_quality
    window = months_window(months, start_month, rule.window_months)
    reasons: list[str] = []
    if len(window) < rule.min_months:
        reasons.append("too_few_months")
    means: dict[str, float | None] = {}
    for column, threshold in (
        ("device_online_rate", rule.min_device_online_rate),
        ("data_completeness", rule.min_data_completeness),
    ):
        v = values(window, column)
        v = v[~np.isnan(v)]
        means[column] = float(v.mean()) if v.size else None
        if v.size < max(rule.min_months, 1):
            reasons.append(f"{column}_not_reported")
        elif not meets(means[column], ">=", threshold):
            reasons.append(f"{column}_low")
    return DataQualityCheck(
        band_version=band.version,
        passed=not reasons,
        start_month=start_month,
        window_months=rule.window_months,
        months=len(window),
        device_online_rate=means["device_online_rate"],
        data_completeness=means["data_completeness"],
        reasons=tuple(reasons),
    )
