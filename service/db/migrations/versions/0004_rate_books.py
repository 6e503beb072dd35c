"""Rate books: each insurer's filed tariff, band, floating schedule, incentives and
prevention share, as imported, and when and by whom each was activated.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

One row per (insurer, version); the document is the validated book (docs/rate-books.md).
A test compares the result with the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "rate_book",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("document", JSON, nullable=False),
        sa.Column("document_hash", sa.String(length=64), nullable=False),
        sa.Column("imported_at", AWARE, nullable=False),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.Column("activated_at", AWARE, nullable=True),
        sa.Column("activated_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rate_book"),
        sa.UniqueConstraint("insurer_id", "version", name="uq_rate_book_insurer_version"),
    )


def downgrade() -> None:
    op.drop_table("rate_book")
