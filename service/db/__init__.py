"""The service database: tables, engine/sessions and Alembic migrations."""

from service.db.engine import Database, make_engine, normalise_url
from service.db.tables import ApiKey, Quote, QuoteImmutableError

__all__ = ["ApiKey", "Database", "Quote", "QuoteImmutableError", "make_engine", "normalise_url"]
