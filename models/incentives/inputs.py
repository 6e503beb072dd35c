"""What :func:`models.incentives.evaluate_period` reads: the site's class, its
site_months rows with their feed revisions, other sites' rows and its claims."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SiteClass:
    """What a site is compared with: its project type and construction stage."""

    project_type: str
    stage: str


@dataclass(frozen=True, slots=True)
class MonthRow:
    """One site_months row of the site, as the feed holds it.

    ``values`` maps site_months columns to numbers (None: not reported); ``revision``
    is the feed's version of the row, recorded as evidence."""

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


@dataclass(frozen=True, slots=True)
class SiteClaim:
    """A claim on the site from the feed: when and how serious, nothing else."""

    incident_date: dt.date
    severity: str
