"""Owners and their incentive agreements: owner keys, the sites' optional owner
(data contract v1.1), agreements with their acceptances, and settlement statements.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Agreements, acceptances and statements are never updated in place: the ORM refuses and
so do triggers here (docs/contract-incentives.md). A test compares the result with the
tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
IMMUTABLE = ("incentive_agreement", "agreement_acceptance", "incentive_statement")
PG_FUNCTION = "siterisk_refuse_update"  # made by 0002
ROLES_BEFORE = "role IN ('insurer', 'contractor', 'admin', 'platform', 'regulator')"
ROLES_AFTER = "role IN ('insurer', 'contractor', 'admin', 'platform', 'regulator', 'owner')"


def _roles(check: str) -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.drop_constraint(op.f("ck_api_key_role"), type_="check")
        batch.create_check_constraint(op.f("ck_api_key_role"), check)


def upgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(length=64), nullable=True))
    _roles(ROLES_AFTER)
    for table in ("site", "site_history"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_id", sa.String(length=64), nullable=True))
    op.create_index("ix_site_owner_id", "site", ["owner_id"])

    op.create_table(
        "incentive_agreement",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("series_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.String(length=36), nullable=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("contractor_id", sa.String(length=64), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=True),
        sa.Column("first_month", sa.String(length=7), nullable=False),
        sa.Column("last_month", sa.String(length=7), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=False),
        sa.Column("terms", JSON, nullable=False),
        sa.Column("document_hash", sa.String(length=80), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("created_by_key", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_key"], ["api_key.id"], name="fk_incentive_agreement_created_by_key_api_key"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incentive_agreement"),
        sa.UniqueConstraint(
            "series_id", "version", name="uq_incentive_agreement_series_version"
        ),
    )
    op.create_index("ix_incentive_agreement_site_id", "incentive_agreement", ["site_id"])
    for party in ("owner", "contractor", "insurer"):
        op.create_index(
            f"ix_incentive_agreement_{party}",
            "incentive_agreement",
            [f"{party}_id", "created_at"],
        )
    op.create_table(
        "agreement_acceptance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("accepted_at", AWARE, nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["incentive_agreement.id"],
            name="fk_agreement_acceptance_agreement_id_incentive_agreement",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_key.id"], name="fk_agreement_acceptance_api_key_id_api_key"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_acceptance"),
        sa.UniqueConstraint("agreement_id", "party", name="uq_agreement_acceptance_party"),
    )
    op.create_table(
        "incentive_statement",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("issued_at", AWARE, nullable=False),
        sa.Column("issued_by_key", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["incentive_agreement.id"],
            name="fk_incentive_statement_agreement_id_incentive_agreement",
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_key"], ["api_key.id"], name="fk_incentive_statement_issued_by_key_api_key"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incentive_statement"),
        sa.UniqueConstraint("agreement_id", name="uq_incentive_statement_agreement"),
    )
    _create_triggers()


def _create_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in IMMUTABLE:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'rows of {table} are never updated in place'); END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in IMMUTABLE:
        op.execute(
            f"DROP TRIGGER IF EXISTS {table}_no_update" + (f" ON {table}" if postgres else "")
        )
    op.drop_table("incentive_statement")
    op.drop_table("agreement_acceptance")
    for party in ("owner", "contractor", "insurer"):
        op.drop_index(f"ix_incentive_agreement_{party}", table_name="incentive_agreement")
    op.drop_index("ix_incentive_agreement_site_id", table_name="incentive_agreement")
    op.drop_table("incentive_agreement")
    op.drop_index("ix_site_owner_id", table_name="site")
    for table in ("site_history", "site"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("owner_id")
    _roles(ROLES_BEFORE)
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("owner_id")
