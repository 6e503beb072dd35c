"""The stored smart-site data: sites and site-months the city platform feeds, claims
each insurer feeds, and every version any of them ever had.

Each contract table has a *current* table (one row per key, what quotes and profiles
read) and a *history* table. A correction replaces the current row and moves the row
it replaces, unchanged, into the history with the time it was superseded: nothing
accepted is ever lost, and a quote that names ``(site_id, month, version)`` can always
be reproduced. Sending the same row again changes nothing (``row_hash``).

The contract's columns keep their names and types (floats as double precision, counts
as 64-bit integers, empty sensor values as NULL), so a stored row reads back exactly
as it was sent, to the last bit: inline and by-reference quotes price alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.db.tables import UTCDateTime, utcnow

HASH_LENGTH: Final = 16  # hex digits of a 64-bit row hash
# Longer claim ids are refused by the feed (a B-tree key must stay small on PostgreSQL).
MAX_CLAIM_ID: Final = 128


class SiteFields(SQLModel):
    """The contract's ``sites`` columns besides ``site_id``."""

    contractor_id: str = Field(max_length=64)
    district: str = Field(max_length=32)
    project_type: str = Field(max_length=32)
    contract_value_cny: float
    floor_area_m2: float
    max_height_m: float
    start_date: dt.date
    planned_end_date: dt.date
    hazardous_works: int = Field(sa_type=BigInteger)
    over_scale_hazardous_works: int = Field(sa_type=BigInteger)
    tower_cranes: int = Field(sa_type=BigInteger)
    # v1.1, optional: the project owner (建设单位); not one of the v1 columns rows hash by
    owner_id: str | None = Field(default=None, max_length=64)


class MonthFields(SQLModel):
    """The contract's ``site_months`` columns besides the key (site_id, month)."""

    stage: str = Field(max_length=16)
    worker_hours: float
    avg_daily_workers: float
    new_worker_share: float | None = None
    training_coverage: float | None = None
    ai_alerts_ppe: int | None = Field(default=None, sa_type=BigInteger)
    ai_alerts_intrusion: int | None = Field(default=None, sa_type=BigInteger)
    ai_alerts_fire: int | None = Field(default=None, sa_type=BigInteger)
    alert_closure_rate: float | None = None
    hazards_found: int | None = Field(default=None, sa_type=BigInteger)
    major_hazards: int | None = Field(default=None, sa_type=BigInteger)
    hazard_rectification_rate: float | None = None
    crane_warnings: int | None = Field(default=None, sa_type=BigInteger)
    structural_alarms: int | None = Field(default=None, sa_type=BigInteger)
    device_online_rate: float | None = None
    data_completeness: float
    inspection_violations: int = Field(sa_type=BigInteger)
    severe_weather_days: int = Field(sa_type=BigInteger)


class ClaimFields(SQLModel):
    """The contract's ``claims`` columns besides ``claim_id``."""

    site_id: str = Field(max_length=64)
    incident_date: dt.date
    cause: str = Field(max_length=32)
    severity: str = Field(max_length=32)
    paid_cny: float
    reserve_cny: float


# --- current rows --------------------------------------------------------------------


class Site(SiteFields, table=True):
    """A site as the platform last sent it. ``data_revision`` grows whenever the site
    or any of its months changes, so derived views (regulator profiles) know when to
    recompute."""

    __tablename__ = "site"
    __table_args__ = (
        Index("ix_site_district", "district"),
        Index("ix_site_contractor_id", "contractor_id"),
        Index("ix_site_owner_id", "owner_id"),
    )

    site_id: str = Field(primary_key=True, max_length=64)
    version: int = 1
    row_hash: str = Field(max_length=HASH_LENGTH)
    data_revision: int = 1
    fed_by: int | None = Field(default=None, foreign_key="api_key.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class SiteMonth(MonthFields, table=True):
    """One month of a site's smart-site data, its current version."""

    __tablename__ = "site_month"
    __table_args__ = (Index("ix_site_month_month", "month"),)

    site_id: str = Field(primary_key=True, max_length=64, foreign_key="site.site_id")
    month: str = Field(primary_key=True, max_length=7)
    version: int = 1
    row_hash: str = Field(max_length=HASH_LENGTH)
    fed_by: int | None = Field(default=None, foreign_key="api_key.id")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Claim(ClaimFields, table=True):
    """A claim as its insurer last sent it; only that insurer ever reads it."""

    __tablename__ = "claim"
    __table_args__ = (
        Index("ix_claim_site_insurer_incident", "site_id", "insurer_id", "incident_date"),
    )

    insurer_id: str = Field(primary_key=True, max_length=64)
    claim_id: str = Field(primary_key=True, max_length=MAX_CLAIM_ID)
    site_id: str = Field(max_length=64, foreign_key="site.site_id")
    version: int = 1
    row_hash: str = Field(max_length=HASH_LENGTH)
    fed_by: int | None = Field(default=None, foreign_key="api_key.id")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


# --- superseded versions -------------------------------------------------------------


class SiteHistory(SiteFields, table=True):
    """A version of a site that a correction replaced."""

    __tablename__ = "site_history"
    __table_args__ = (UniqueConstraint("site_id", "version", name="uq_site_history_version"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: str = Field(max_length=64)
    version: int
    row_hash: str = Field(max_length=HASH_LENGTH)
    fed_by: int | None = None
    valid_from: dt.datetime = Field(sa_type=UTCDateTime())
    superseded_at: dt.datetime = Field(sa_type=UTCDateTime())


class SiteMonthHistory(MonthFields, table=True):
    """A version of a site-month that a correction replaced."""

    __tablename__ = "site_month_history"
    __table_args__ = (
        UniqueConstraint("site_id", "month", "version", name="uq_site_month_history_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    site_id: str = Field(max_length=64)
    month: str = Field(max_length=7)
    version: int
    row_hash: str = Field(max_length=HASH_LENGTH)
    fed_by: int | None = None
    valid_from: dt.datetime = Field(sa_type=UTCDateTime())
    superseded_at: dt.datetime = Field(sa_type=UTCDateTime())


class ClaimHistory(ClaimFields, table=True):
    """A version of a claim that its insurer replaced (reserves move, payments grow)."""

    __tablename__ = "claim_history"
    __table_args__ = (
        UniqueConstraint("insurer_id", "claim_id", "version", name="uq_claim_history_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    insurer_id: str = Field(max_length=64)
    claim_id: str = Field(max_length=MAX_CLAIM_ID)
    version: int
    row_hash: str = Field(max_length=HASH_LENGTH)
    fed_by: int | None = None
    valid_from: dt.datetime = Field(sa_type=UTCDateTime())
    superseded_at: dt.datetime = Field(sa_type=UTCDateTime())
