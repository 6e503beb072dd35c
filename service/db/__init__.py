"""The service database: tables, engine/sessions and Alembic migrations."""

from service.db.engine import Database, make_engine, normalise_url
from service.db.feed_tables import (
    Claim,
    ClaimHistory,
    Site,
    SiteHistory,
    SiteMonth,
    SiteMonthHistory,
)
from service.db.tables import ApiKey, Quote, QuoteImmutableError

__all__ = [
    "ApiKey",
    "Claim",
    "ClaimHistory",
    "Database",
    "Quote",
    "QuoteImmutableError",
    "Site",
    "SiteHistory",
    "SiteMonth",
    "SiteMonthHistory",
    "make_engine",
    "normalise_url",
]
