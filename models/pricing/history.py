"""The slice of a site's history a rule looks at, and how a figure is held against a
threshold.

A rule for a policy starting in month S reads only the ``N`` calendar months before
S (S−N … S−1): a price may only use data from before its period. Null sensor values
mean "not reported" and stay NaN here, never zero.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.contract.spec import MONTH_PATTERN

FloatArray = npt.NDArray[np.float64]

# Rates arrive rounded and means of them carry float noise: 0.95 must meet ">= 0.95".
_TOLERANCE: Final = 1e-9
_MONTH: Final = re.compile(MONTH_PATTERN)


def month_number(month: str) -> int:
    """``"YYYY-MM"`` as a count of months, so windows are integer ranges."""
    if not isinstance(month, str):
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return _month_number(month)


# A portfolio reads the same few dozen months thousands of times.
@functools.lru_cache(maxsize=4096)
def _month_number(month: str) -> int:
    if not _MONTH.fullmatch(month):
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _month_numbers(months: pd.Series) -> npt.NDArray[np.int64]:
    text = months.astype("string")
    ok = text.str.fullmatch(MONTH_PATTERN).fillna(False).astype(bool)
    if not bool(ok.all()):
        first = months[~ok.to_numpy()].iloc[0]
        raise ValueError(f"site_months.month must look like YYYY-MM, got {first!r}")
    years = text.str.slice(0, 4).astype(int).to_numpy(dtype=np.int64)
    mons = text.str.slice(5, 7).astype(int).to_numpy(dtype=np.int64)
    return years * 12 + mons - 1


def months_window(months: pd.DataFrame, start_month: str, window_months: int) -> pd.DataFrame:
    """The rows of ``months`` in the ``window_months`` calendar months before ``start_month``."""
    start = month_number(start_month)
    if window_months < 1:
        raise ValueError(f"window_months must be >= 1, got {window_months}")
    if months.empty:
        return months
    if "month" not in months.columns:
        raise ValueError("site_months rows need a 'month' column")
    n = _month_numbers(months["month"])
    return months.loc[(n >= start - window_months) & (n < start)]


def claims_window(claims: pd.DataFrame, start_month: str, window_months: int) -> pd.DataFrame:
    """The claims with an incident date in the ``window_months`` months before ``start_month``."""
    start = month_number(start_month)
    if window_months < 1:
        raise ValueError(f"window_months must be >= 1, got {window_months}")
    if claims.empty:
        return claims
    if "incident_date" not in claims.columns:
        raise ValueError("claims rows need an 'incident_date' column")
    dates = pd.to_datetime(claims["incident_date"])
    first = start - window_months
    lo = pd.Timestamp(year=first // 12, month=first % 12 + 1, day=1)
    hi = pd.Timestamp(year=start // 12, month=start % 12 + 1, day=1)
    return claims.loc[((dates >= lo) & (dates < hi)).to_numpy()]


def values(frame: pd.DataFrame, column: str) -> FloatArray:
    """A column as floats, NaN where not reported (or everywhere, if the column is absent)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    numeric = pd.to_numeric(frame[column], errors="coerce")
    return np.asarray(numeric.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def meets(actual: float | None, operator: str, threshold: float) -> bool:
    """Whether ``actual operator threshold`` holds; a figure not reported never does."""
    # the same tests as math.isnan and max(1.0, abs(threshold)) without their calls:
    # a quote holds some thirty figures against their thresholds
    if actual is None or actual != actual:
        return False
    size = abs(threshold)
    slack = _TOLERANCE * (size if size > 1.0 else 1.0)
    if operator == ">=":
        return actual >= threshold - slack
    if operator == "<=":
        return actual <= threshold + slack
    raise ValueError(f"unknown operator {operator!r}")


def gap(actual: float | None, operator: str, threshold: float) -> float | None:
    """How far ``actual`` is from meeting the threshold: 0 when met, None if not reported."""
    if actual is None or math.isnan(actual):
        return None
    if meets(actual, operator, threshold):
        return 0.0
    return threshold - actual if operator == ">=" else actual - threshold
