"""Rate books' own off-balance factor: found when a book is activated, over the
insurer's re-priced quotes of the last 12 months (or the model's own when there are too
few), and kept with the activation: the factor, how it was found, over how many quotes
and with which model (docs/rate-books.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

A test compares the result with the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("off_balance_factor", sa.Float()),
    ("off_balance_method", sa.String(length=32)),
    ("off_balance_quotes", sa.Integer()),
    ("off_balance_model", sa.String(length=1024)),
)


def upgrade() -> None:
    with op.batch_alter_table("rate_book") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rate_book") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
