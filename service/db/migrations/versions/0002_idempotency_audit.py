"""Idempotency records scoped by owner; quotes refuse UPDATE in the database itself;
an index for a contractor's latest explanation of a site.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The idempotency key moves from ``quote`` (unique per API key, which a batch of many
quotes under one key cannot satisfy, and which a rotated key would not find) to
``idempotency_record`` (unique per owner). The triggers make "never updated in place"
hold for any client, not only for the ORM; a later migration that rebuilds ``quote``
in SQLite batch mode must create them again (a test checks they exist at head).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
IMMUTABLE = ("quote", "idempotency_record")
PG_FUNCTION = "siterisk_refuse_update"


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'rows of % are never updated in place', TG_TABLE_NAME "
            "USING ERRCODE = 'restrict_violation'; END $$"
        )
        for table in IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
            )
    else:
        for table in IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'rows of {table} are never updated in place'); END"
            )


def _drop_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in IMMUTABLE:
        op.execute(
            f"DROP TRIGGER IF EXISTS {table}_no_update" + (f" ON {table}" if postgres else "")
        )
    if postgres:
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")


def upgrade() -> None:
    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("answer", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_key.id"], name="fk_idempotency_record_api_key_id_api_key"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_idempotency_record"),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_idempotency_record_owner_key"),
    )
    with op.batch_alter_table("quote") as batch:
        batch.drop_constraint("uq_quote_caller_idempotency", type_="unique")
        batch.drop_column("idempotency_key")
    op.create_index(
        "ix_quote_contractor_site_created", "quote", ["contractor_id", "site_id", "created_at"]
    )
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    op.drop_index("ix_quote_contractor_site_created", table_name="quote")
    with op.batch_alter_table("quote") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch.create_unique_constraint(
            "uq_quote_caller_idempotency", ["api_key_id", "idempotency_key"]
        )
    op.drop_table("idempotency_record")
