"""A ready-to-send ``POST /v1/quotes`` body cut from contract-shaped data: one site's
row, its months before the policy start and its claims before it, with the contract's
field names. ``siterisk quotes example`` writes one for the demo and for trying the API.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, Final

import pandas as pd

from models.contract import spec
from service.quotes.schemas import MAX_MONTHS

__all__ = [
    "ExampleError",
    "contract_rows",
    "documented_examples",
    "example_request",
    "openapi_examples",
    "pick_site",
    "quote_request",
    "ranked_sites",
]

# A site is at work when it logged worker-hours in this many months before the start:
# the rating plan's overrun_recent_months (plan-2026.1), so a site past its planned end
# that is still working is priced.
AT_WORK_MONTHS: Final = 3
# The request examples of the OpenAPI document (POST /v1/quotes and /v1/quotes/batch),
# cut by openapi_examples() from a synthetic world: see tests/service/quotes/
# test_openapi_examples.py, which checks and rewrites them.
EXAMPLES_FILE: Final = Path(__file__).resolve().with_name("openapi_examples.json")


class ExampleError(ValueError):
    """The data holds no site-month to build the asked-for example from."""


def _plain(value: Any) -> Any:
    """A frame cell as JSON: missing as None, numpy scalars as Python, dates as ISO text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def contract_rows(frame: pd.DataFrame, table: str) -> list[dict[str, Any]]:
    """The contract's columns of ``table`` in ``frame`` as the JSON rows a request
    carries, one dict a row. Optional columns a folder leaves out are simply not sent
    ("not reported")."""
    names = [c.name for c in spec.columns(table) if c.name in frame.columns]
    rows = frame[names].itertuples(index=False)
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]


def _next_month(month: str) -> str:
    return (pd.Period(month, freq="M") + 1).strftime("%Y-%m")


def quote_request(
    sites: pd.DataFrame,
    site_months: pd.DataFrame,
    claims: pd.DataFrame,
    site_id: str,
    start_month: str,
    *,
    months: int = 12,
    term_months: int = 12,
) -> dict[str, Any]:
    """The body pricing ``site_id`` from ``start_month``: its last ``months`` months
    before the start and its claims incurred before the start."""
    if not 1 <= months <= MAX_MONTHS:
        raise ExampleError(f"months must be 1–{MAX_MONTHS}, not {months}")
    site = sites[sites["site_id"] == site_id]
    if site.empty:
        raise ExampleError(f"no site {site_id!r} in the data")
    history = (
        site_months[(site_months["site_id"] == site_id) & (site_months["month"] < start_month)]
        .sort_values("month")
        .tail(months)
    )
    if history.empty:
        raise ExampleError(f"site {site_id!r} has no months before {start_month}")
    start_day = pd.Timestamp(f"{start_month}-01")
    before = claims[
        (claims["site_id"] == site_id) & (pd.to_datetime(claims["incident_date"]) < start_day)
    ]
    return {
        "site": contract_rows(site.head(1), "sites")[0],
        "months": contract_rows(history, "site_months"),
        "claims": contract_rows(before.sort_values("incident_date"), "claims"),
        "policy": {"start_month": start_month, "term_months": term_months},
    }


def ranked_sites(
    site_months: pd.DataFrame,
    *,
    start_month: str | None = None,
    months: int = 12,
    at_work_months: int = AT_WORK_MONTHS,
) -> tuple[list[str], str]:
    """The sites worth showing a renewal of, best first, and the start month: by default
    the month after the data ends. Among the sites reporting in the ``months`` before
    it: first those still at work (worker-hours in the last ``at_work_months`` months,
    so the rating plan's quote limits price them even past their planned end), then the
    ones with the most months, then the best reported (highest mean
    ``data_completeness``, so the example is not held back by the data-quality gate),
    then by id, so the same data gives the same example."""
    if site_months.empty:
        raise ExampleError("the data has no site-months")
    start = start_month or _next_month(str(site_months["month"].max()))
    first = (pd.Period(start, freq="M") - months).strftime("%Y-%m")
    recent = (pd.Period(start, freq="M") - at_work_months).strftime("%Y-%m")
    window = site_months[(site_months["month"] < start) & (site_months["month"] >= first)]
    if window.empty:
        raise ExampleError(f"no site reports any of the {months} months before {start}")
    completeness = (
        window["data_completeness"].astype("float64").fillna(0.0)
        if "data_completeness" in window.columns
        else pd.Series(0.0, index=window.index)
    )
    hours = window["worker_hours"].astype("float64").fillna(0.0)
    working = (window["month"] >= recent) & (hours > 0.0)
    per_site = (
        window.assign(_completeness=completeness, _working=working)
        .groupby("site_id", observed=True)
        .agg(
            working=("_working", "any"),
            months=("month", "nunique"),
            completeness=("_completeness", "mean"),
        )
    )
    ranked = per_site.reset_index().sort_values(
        ["working", "months", "completeness", "site_id"], ascending=[False, False, False, True]
    )
    return [str(s) for s in ranked["site_id"]], start


def pick_site(
    site_months: pd.DataFrame, *, start_month: str | None = None, months: int = 12
) -> tuple[str, str]:
    """``(site_id, start_month)`` of a renewal worth showing: the first of
    :func:`ranked_sites`."""
    ranked, start = ranked_sites(site_months, start_month=start_month, months=months)
    return ranked[0], start


def example_request(
    sites: pd.DataFrame,
    site_months: pd.DataFrame,
    claims: pd.DataFrame,
    *,
    site_id: str | None = None,
    start_month: str | None = None,
    months: int = 12,
    term_months: int = 12,
) -> dict[str, Any]:
    """A complete request from the data: the given site and start month, or a site and
    start month picked by :func:`pick_site` (a given site starts the month after its
    last reported month)."""
    if site_id is None:
        site_id, start_month = pick_site(site_months, start_month=start_month, months=months)
    elif start_month is None:
        own = site_months.loc[site_months["site_id"] == site_id, "month"]
        if own.empty:
            raise ExampleError(f"site {site_id!r} has no site-months in the data")
        start_month = _next_month(str(own.max()))
    return quote_request(
        sites,
        site_months,
        claims,
        site_id,
        start_month,
        months=months,
        term_months=term_months,
    )


def openapi_examples(
    sites: pd.DataFrame, site_months: pd.DataFrame, claims: pd.DataFrame, *, count: int = 2
) -> list[dict[str, Any]]:
    """Requests for the API's documentation: the ``count`` best sites of
    :func:`ranked_sites` (the first is :func:`example_request`'s), renewed the month
    after the data ends."""
    ranked, start = ranked_sites(site_months)
    return [quote_request(sites, site_months, claims, s, start) for s in ranked[:count]]


@functools.cache
def _stored_examples() -> str:
    return EXAMPLES_FILE.read_text(encoding="utf-8")


def documented_examples() -> tuple[dict[str, Any], dict[str, Any]]:
    """The bodies the OpenAPI document shows (fresh copies): one quote request, and a
    batch of the stored requests."""
    requests: list[dict[str, Any]] = json.loads(_stored_examples())
    return requests[0], {"items": requests}
