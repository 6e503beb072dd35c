"""What :func:`models.incentives.evaluate_period` reads: the site's class, its
site_months rows with their feed revisions, other sites' rows and its claims."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class SiteClass:
    """What a site is compared with: its project type and construction stage."""

    project_type: str
    stage: str


class MonthRow(NamedTuple):
    """One site_months row of the site, as the feed holds it.

    ``values`` maps site_months columns to numbers (None: not reported); ``revision``
    is the feed's version of the row, recorded as evidence. A named tuple, immutable
    like the other inputs and half the cost to make of a frozen dataclass: every quote
    makes one per month of its window."""

    month: str  # YYYY-MM
    stage: str
    revision: int
    values: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class PeerRow:
    """One site_months row of another site, for class percentiles."""

    site_id: str
    month: str
    project_type: str
    stage: str
    values: Mapping[str, float | None]


class SiteClaim(NamedTuple):
    """A claim on the site from the feed: when and how serious, nothing else. A named
    tuple, as :class:`MonthRow`: every quote makes one per claim it was sent."""

    incident_date: dt.date
    severity: str
