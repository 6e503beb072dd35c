"""What the feed, by-reference quotes and regulator profiles accept and answer."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from msgspec import Meta, Struct

from service.quotes.schemas import MAX_CLAIMS, MonthRef

if TYPE_CHECKING:
    from msgspec import Struct as ClaimIn
else:
    from service.quotes.schemas import ClaimIn

MAX_FEED_CLAIMS: Final = MAX_CLAIMS
Status = Literal["inserted", "updated", "unchanged"]


# --- the feed ----------------------------------------------------------------------------


class ClaimsIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """Claims of the calling insurer (the contract's claims rows)."""

    claims: Annotated[list[ClaimIn], Meta(min_length=1, max_length=MAX_FEED_CLAIMS)]


class RowResult(Struct, frozen=True, kw_only=True):
    """What happened to one row: stored as a new key, replaced (a correction, the old
    version kept in the history) or left alone (the same data again)."""

    key: dict[str, str]
    status: Status
    version: int


class TableResult(Struct, frozen=True, kw_only=True):
    received: int
    inserted: int
    updated: int
    unchanged: int


class FeedResult(Struct, frozen=True, kw_only=True):
    tables: dict[str, TableResult]
    rows: list[RowResult] | None = None  # single-row and claims calls only
    warnings: list[str] = []


class VersionOut(Struct, frozen=True, kw_only=True):
    version: int
    valid_from: dt.datetime
    superseded_at: dt.datetime | None  # None: the current version
    fed_by_key: int | None
    row: dict[str, Any]


class HistoryOut(Struct, frozen=True, kw_only=True):
    """Every version of one stored row, newest first."""

    table: str
    key: dict[str, str]
    current_version: int
    versions: list[VersionOut]


class StoredSite(Struct, frozen=True, kw_only=True):
    site: dict[str, Any]
    version: int
    months: list[MonthRef]


# --- regulator profiles -----------------------------------------------------------------


class TrendPoint(Struct, frozen=True, kw_only=True):
    as_of: str  # the month the risk is assessed for, from data before it
    percentile: float
    grade: str


class Trend(Struct, frozen=True, kw_only=True):
    direction: Literal["improving", "stable", "worsening", "unknown"]
    change_points: float | None  # percentile now minus percentile at the first point
    points: list[TrendPoint]


class GroupScore(Struct, frozen=True, kw_only=True):
    """One 工地画像 group: the model's factor for it, and where that stands among the
    district's sites (peer_percentile 0 = the lowest risk contribution in the district)."""

    group: str
    label: dict[str, str]
    factor: float
    peer_median_factor: float
    peer_percentile: float
    level: Literal["better", "typical", "worse"]


class ProfileQuality(Struct, frozen=True, kw_only=True):
    passed: bool
    window_months: int
    months: int
    device_online_rate: float | None
    data_completeness: float | None
    reasons: list[str]
    months_stored: int
    latest_month: str | None


class SiteSummary(Struct, frozen=True, kw_only=True):
    site_id: str
    district: str
    project_type: str
    contractor_id: str
    as_of: str | None
    grade: str | None  # None: no smart-site data yet
    percentile: float | None
    data_quality_passed: bool | None
    trend: Literal["improving", "stable", "worsening", "unknown"]


class SitePage(Struct, frozen=True, kw_only=True):
    items: list[SiteSummary]
    total: int
    limit: int
    offset: int
    grade_rules: str
    model: dict[str, str]


class SiteProfile(Struct, frozen=True, kw_only=True):
    site_id: str
    district: str
    project_type: str
    contractor_id: str
    start_date: str
    planned_end_date: str
    hazardous_works: int
    over_scale_hazardous_works: int
    tower_cranes: int
    as_of: str | None
    grade: str | None
    grade_label: dict[str, str] | None
    percentile: float | None
    grade_rules: str
    model: dict[str, str]
    district_sites: int
    groups: list[GroupScore]
    data_quality: ProfileQuality | None
    trend: Trend
    basis: dict[str, str]
