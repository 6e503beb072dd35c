"""The smart-site event contract (``docs/events.md``, v1) as data.

The raw events of the city–district–project platform, before anything is summed by
month: tables, columns, types and every rule the contract states, written once here
(like :mod:`models.contract.spec` does for the monthly contract). The validator
(:mod:`models.events.load`) and the aggregation (:mod:`models.events.aggregate`) read
column names and rules from this module.

``sites`` and ``claims`` of an events folder are exactly the monthly contract's tables:
they are checked by :mod:`models.contract` and passed through, never re-declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from models.contract.spec import DISTRICTS, STAGES

EVENT_CONTRACT_VERSION: Final = "1"

Kind = Literal["str", "float", "int", "date", "timestamp"]

VIDEO_KINDS: Final = ("ppe", "intrusion", "fire")
SOURCES: Final = ("self", "insurer", "government")
LEVELS: Final = ("general", "major")
CRANE_KINDS: Final = ("crane_overload", "crane_collision", "crane_wind")
STRUCTURAL_KINDS: Final = ("deep_excavation", "high_formwork")
DEVICE_EVENT_KINDS: Final = CRANE_KINDS + STRUCTURAL_KINDS
DEVICE_KINDS: Final = ("camera", "crane_monitor", "structural_monitor", "attendance_gate")
WEATHER_KINDS: Final = ("typhoon", "rainstorm", "heat")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an event table with the rules the contract states for it alone."""

    name: str
    kind: Kind
    nullable: bool = False
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    choices: tuple[str, ...] | None = None
    min_len: int | None = None
    max_len: int | None = None


def _id(name: str) -> Column:
    return Column(name, "str", min_len=1)


SITE_ID: Final = Column("site_id", "str", min_len=1, max_len=64)

TABLES: Final[dict[str, tuple[Column, ...]]] = {
    "site_stages": (
        SITE_ID,
        Column("stage", "str", choices=STAGES),
        Column("from_date", "date"),
    ),
    "attendance": (
        SITE_ID,
        Column("worker_id", "str", min_len=1, max_len=64),
        Column("date", "date"),
        Column("hours", "float", gt=0.0, le=24.0),
    ),
    "training_records": (
        Column("worker_id", "str", min_len=1, max_len=64),
        SITE_ID,
        Column("completed_on", "date"),
        Column("valid_until", "date"),
    ),
    "video_events": (
        _id("event_id"),
        SITE_ID,
        _id("device_id"),
        Column("ts", "timestamp"),
        Column("kind", "str", choices=VIDEO_KINDS),
        Column("closed_at", "timestamp", nullable=True),
    ),
    "hazard_tickets": (
        _id("ticket_id"),
        SITE_ID,
        Column("found_on", "date"),
        Column("source", "str", choices=SOURCES),
        Column("level", "str", choices=LEVELS),
        Column("deadline", "date"),
        Column("rectified_on", "date", nullable=True),
    ),
    "device_events": (
        _id("event_id"),
        SITE_ID,
        _id("device_id"),
        Column("ts", "timestamp"),
        Column("kind", "str", choices=DEVICE_EVENT_KINDS),
    ),
    "device_days": (
        SITE_ID,
        _id("device_id"),
        Column("date", "date"),
        Column("kind", "str", choices=DEVICE_KINDS),
        Column("online_minutes", "int", ge=0, le=1440),
    ),
    "weather_warnings": (
        Column("district", "str", choices=DISTRICTS),
        Column("date", "date"),
        Column("kind", "str", choices=WEATHER_KINDS),
    ),
}

# Columns that must be unique together: a repeat is an error, never "last write wins".
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "site_stages": ("site_id", "from_date"),
    "attendance": ("site_id", "worker_id", "date"),
    "video_events": ("event_id",),
    "hazard_tickets": ("ticket_id",),
    "device_events": ("event_id",),
    "device_days": ("site_id", "device_id", "date"),
}

# Rules between two columns of one row: ``small <= large`` (skipped where one is empty).
CROSS_RULES: Final[tuple[tuple[str, str, str], ...]] = (
    ("training_records", "completed_on", "valid_until"),
    ("video_events", "ts", "closed_at"),
    ("hazard_tickets", "found_on", "deadline"),
    ("hazard_tickets", "found_on", "rectified_on"),
)

# Tables whose site_id must name a row of ``sites`` (every one that has a site_id).
REFERENCES: Final[tuple[str, ...]] = tuple(t for t, cols in TABLES.items() if SITE_ID in cols)

# The monthly contract's tables an events folder holds as they are.
PASSED_THROUGH: Final = ("sites", "claims")
