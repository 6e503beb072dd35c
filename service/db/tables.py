"""The service's tables: API keys (stored hashed), quotes (an append-only log) and the
first answers to idempotent requests.

Columns use portable types only, so one migration serves SQLite and PostgreSQL;
JSON columns become JSONB on PostgreSQL. Timestamps are aware UTC datetimes on both
(:class:`UTCDateTime`; SQLite stores them as naive UTC text).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Index,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

ROLES = ("insurer", "contractor", "admin", "platform", "regulator", "owner")

# Named constraints let Alembic's batch mode (how SQLite alters tables) find them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class ApiKey(SQLModel, table=True):
    """One API key. Only an HMAC of the key is kept; ``prefix`` finds the row."""

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint(
            "role IN ('insurer', 'contractor', 'admin', 'platform', 'regulator', 'owner')",
            name="role",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=32, unique=True)
    key_hash: str = Field(max_length=64)
    role: str = Field(max_length=16)
    insurer_id: str | None = Field(default=None, max_length=64, index=True)
    contractor_id: str | None = Field(default=None, max_length=64)
    owner_id: str | None = Field(default=None, max_length=64)
    districts: list[str] = Field(default_factory=list, sa_type=JSONType)
    label: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    rotated_from_id: int | None = Field(default=None, foreign_key="api_key.id")

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class Quote(SQLModel, table=True):
    """A priced quote, written once with everything needed to reproduce it: the request
    and the answer, the model's version and URI, the rule versions, the caller and a
    hash of the inputs (``siterisk quotes replay`` re-prices it from these).

    Rows are never updated: the ORM refuses (below) and so does the database (a trigger,
    see migration 0002); corrections are new quotes.
    """

    __tablename__ = "quote"
    __table_args__ = (
        Index("ix_quote_insurer_created", "insurer_id", "created_at"),
        # A contractor's latest explanation of one site.
        Index("ix_quote_contractor_site_created", "contractor_id", "site_id", "created_at"),
    )

    id: str = Field(default_factory=lambda: str(uuid4()), primary_key=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    api_key_id: int = Field(foreign_key="api_key.id")
    insurer_id: str = Field(max_length=64)
    site_id: str = Field(max_length=64, index=True)
    contractor_id: str | None = Field(default=None, max_length=64, index=True)
    district: str | None = Field(default=None, max_length=32, index=True)
    request_hash: str = Field(max_length=64)
    input_hash: str = Field(max_length=64)
    request: dict[str, Any] = Field(sa_type=JSONType)
    response: dict[str, Any] = Field(sa_type=JSONType)
    model_name: str = Field(max_length=255)
    model_version: str = Field(max_length=64)
    model_uri: str = Field(max_length=1024)
    tariff_version: str = Field(max_length=64)
    band_version: str = Field(max_length=64)
    incentive_version: str = Field(max_length=64)
    band: str | None = Field(default=None, max_length=32)
    predicted_frequency: float | None = None
    base_premium: float | None = None
    final_premium: float
    currency: str = Field(default="CNY", max_length=3)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a request sent with an ``Idempotency-Key``.

    Keys are scoped by owner (the insurer, as quotes are), so a retry through a rotated
    key still finds its answer and two insurers never collide. ``request_hash`` tells a
    true retry from another request reusing the key. ``answer`` holds the answer minus
    the quotes themselves, which it names by id: ``{"quote_id": ...}`` for one quote,
    ``{"priced", "failed", "items": [{"index", "status", "quote_id" | "error"}]}`` for a
    batch. Written in the same transaction as its quotes, never updated.
    """

    __tablename__ = "idempotency_record"
    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key", name="uq_idempotency_record_owner_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=255)
    endpoint: str = Field(max_length=64)
    request_hash: str = Field(max_length=64)
    api_key_id: int = Field(foreign_key="api_key.id")
    status_code: int
    answer: dict[str, Any] = Field(sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class RateBookRow(SQLModel, table=True):
    """An insurer's rate book as imported (docs/rate-books.md): the validated document,
    never changed once stored (a changed book is a new version), and who imported it.
    Only an activated book prices quotes; activation records who and when."""

    __tablename__ = "rate_book"
    __table_args__ = (
        UniqueConstraint("insurer_id", "version", name="uq_rate_book_insurer_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    insurer_id: str = Field(max_length=64)
    version: str = Field(max_length=32)
    effective_from: date
    effective_to: date | None = None
    document: dict[str, Any] = Field(sa_type=JSONType)
    document_hash: str = Field(max_length=64)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    imported_by: str = Field(max_length=200)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    activated_by: str | None = Field(default=None, max_length=200)
    # the book's own off-balance factor, found at activation (migration 0006): the
    # factor (None: the model's own), how (insurer_quotes | model), over how many of the
    # insurer's re-priced quotes and with which model
    off_balance_factor: float | None = None
    off_balance_method: str | None = Field(default=None, max_length=32)
    off_balance_quotes: int | None = None
    off_balance_model: str | None = Field(default=None, max_length=1024)


class IncentiveAgreement(SQLModel, table=True):
    """An owner's incentive agreement for one of its sites (docs/contract-incentives.md),
    as registered: never changed afterwards. Acceptances are rows of their own; a
    changed agreement is a new version of the same series (``replaces_id``)."""

    __tablename__ = "incentive_agreement"
    __table_args__ = (
        UniqueConstraint("series_id", "version", name="uq_incentive_agreement_series_version"),
        Index("ix_incentive_agreement_owner", "owner_id", "created_at"),
        Index("ix_incentive_agreement_contractor", "contractor_id", "created_at"),
        Index("ix_incentive_agreement_insurer", "insurer_id", "created_at"),
    )

    id: str = Field(default_factory=lambda: str(uuid4()), primary_key=True, max_length=36)
    series_id: str = Field(max_length=36)
    version: int
    replaces_id: str | None = Field(default=None, max_length=36)
    site_id: str = Field(max_length=64, index=True)
    owner_id: str = Field(max_length=64)
    contractor_id: str = Field(max_length=64)
    insurer_id: str | None = Field(default=None, max_length=64)
    first_month: str = Field(max_length=7)
    last_month: str = Field(max_length=7)
    ruleset_version: str = Field(max_length=64)
    terms: dict[str, Any] = Field(sa_type=JSONType)
    document_hash: str = Field(max_length=80)  # sha256:<hex>
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    created_by_key: int = Field(foreign_key="api_key.id")


class AgreementAcceptance(SQLModel, table=True):
    """One party's acceptance of one agreement version, with the key that gave it."""

    __tablename__ = "agreement_acceptance"
    __table_args__ = (
        UniqueConstraint("agreement_id", "party", name="uq_agreement_acceptance_party"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: str = Field(max_length=36, foreign_key="incentive_agreement.id")
    party: str = Field(max_length=16)  # owner | contractor
    party_id: str = Field(max_length=64)
    api_key_id: int = Field(foreign_key="api_key.id")
    accepted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class IncentiveStatement(SQLModel, table=True):
    """The settlement of one agreement: the statement's canonical JSON exactly as issued
    (``body``), its hash (``content_hash``, ``sha256:…``) and the inputs it was computed
    from. Written once, never updated."""

    __tablename__ = "incentive_statement"
    __table_args__ = (UniqueConstraint("agreement_id", name="uq_incentive_statement_agreement"),)

    id: str = Field(default_factory=lambda: str(uuid4()), primary_key=True, max_length=36)
    agreement_id: str = Field(max_length=36, foreign_key="incentive_agreement.id")
    content_hash: str = Field(max_length=80)
    body: str = Field(sa_type=Text())
    # what was evaluated (the rows, peers and claims read from the feed), so a replay
    # recomputes the same bytes however the feed changed since
    inputs: dict[str, Any] = Field(sa_type=JSONType)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    # None: issued by the service at the end of the period (siterisk agreements settle-due)
    issued_by_key: int | None = Field(default=None, foreign_key="api_key.id")


class QuoteImmutableError(RuntimeError):
    """Raised on an attempt to change a stored quote or an idempotency record."""


@event.listens_for(Quote, "before_update")
def _refuse_quote_update(_mapper: Mapper[Any], _connection: Connection, target: Quote) -> None:
    # A quote is evidence of what was offered; it must read the same forever.
    raise QuoteImmutableError(f"quote {target.id} is stored; quotes are never updated in place")


@event.listens_for(IdempotencyRecord, "before_update")
def _refuse_record_update(
    _mapper: Mapper[Any], _connection: Connection, target: IdempotencyRecord
) -> None:
    raise QuoteImmutableError(f"idempotency record {target.id} is never updated in place")


@event.listens_for(IncentiveAgreement, "before_update")
@event.listens_for(AgreementAcceptance, "before_update")
@event.listens_for(IncentiveStatement, "before_update")
def _refuse_agreement_update(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    # Agreements, acceptances and statements are the evidence a settlement rests on.
    raise QuoteImmutableError(f"{type(target).__name__} rows are never updated in place")
