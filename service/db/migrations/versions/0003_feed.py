"""The data feed: sites, site-months and claims, current rows and superseded versions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Indexes serve the feed's queries: a site's months before a start month (the primary
key), a site's claims of one insurer before a date, sites by district and by
contractor, months by calendar month. A test compares the result with the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)


def _site_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("contractor_id", sa.String(length=64), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("project_type", sa.String(length=32), nullable=False),
        sa.Column("contract_value_cny", sa.Float(), nullable=False),
        sa.Column("floor_area_m2", sa.Float(), nullable=False),
        sa.Column("max_height_m", sa.Float(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("planned_end_date", sa.Date(), nullable=False),
        sa.Column("hazardous_works", sa.BigInteger(), nullable=False),
        sa.Column("over_scale_hazardous_works", sa.BigInteger(), nullable=False),
        sa.Column("tower_cranes", sa.BigInteger(), nullable=False),
    ]


def _month_columns() -> list[sa.Column[object]]:
    def rate(name: str, nullable: bool = True) -> sa.Column[object]:
        return sa.Column(name, sa.Float(), nullable=nullable)

    def count(name: str, nullable: bool = True) -> sa.Column[object]:
        return sa.Column(name, sa.BigInteger(), nullable=nullable)

    return [
        sa.Column("stage", sa.String(length=16), nullable=False),
        rate("worker_hours", False),
        rate("avg_daily_workers", False),
        rate("new_worker_share"),
        rate("training_coverage"),
        count("ai_alerts_ppe"),
        count("ai_alerts_intrusion"),
        count("ai_alerts_fire"),
        rate("alert_closure_rate"),
        count("hazards_found"),
        count("major_hazards"),
        rate("hazard_rectification_rate"),
        count("crane_warnings"),
        count("structural_alarms"),
        rate("device_online_rate"),
        rate("data_completeness", False),
        count("inspection_violations", False),
        count("severe_weather_days", False),
    ]


def _claim_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("incident_date", sa.Date(), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("paid_cny", sa.Float(), nullable=False),
        sa.Column("reserve_cny", sa.Float(), nullable=False),
    ]


def _history_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(length=16), nullable=False),
        sa.Column("fed_by", sa.Integer(), nullable=True),
        sa.Column("valid_from", AWARE, nullable=False),
        sa.Column("superseded_at", AWARE, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "site",
        *_site_columns(),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(length=16), nullable=False),
        sa.Column("data_revision", sa.Integer(), nullable=False),
        sa.Column("fed_by", sa.Integer(), nullable=True),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.ForeignKeyConstraint(["fed_by"], ["api_key.id"], name="fk_site_fed_by_api_key"),
        sa.PrimaryKeyConstraint("site_id", name="pk_site"),
    )
    op.create_index("ix_site_district", "site", ["district"])
    op.create_index("ix_site_contractor_id", "site", ["contractor_id"])

    op.create_table(
        "site_month",
        *_month_columns(),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(length=16), nullable=False),
        sa.Column("fed_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.ForeignKeyConstraint(["fed_by"], ["api_key.id"], name="fk_site_month_fed_by_api_key"),
        sa.ForeignKeyConstraint(["site_id"], ["site.site_id"], name="fk_site_month_site_id_site"),
        sa.PrimaryKeyConstraint("site_id", "month", name="pk_site_month"),
    )
    op.create_index("ix_site_month_month", "site_month", ["month"])

    op.create_table(
        "claim",
        *_claim_columns(),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.String(length=128), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(length=16), nullable=False),
        sa.Column("fed_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.ForeignKeyConstraint(["fed_by"], ["api_key.id"], name="fk_claim_fed_by_api_key"),
        sa.ForeignKeyConstraint(["site_id"], ["site.site_id"], name="fk_claim_site_id_site"),
        sa.PrimaryKeyConstraint("insurer_id", "claim_id", name="pk_claim"),
    )
    op.create_index(
        "ix_claim_site_insurer_incident", "claim", ["site_id", "insurer_id", "incident_date"]
    )

    op.create_table(
        "site_history",
        *_site_columns(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        *_history_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_site_history"),
        sa.UniqueConstraint("site_id", "version", name="uq_site_history_version"),
    )
    op.create_table(
        "site_month_history",
        *_month_columns(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        *_history_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_site_month_history"),
        sa.UniqueConstraint("site_id", "month", "version", name="uq_site_month_history_version"),
    )
    op.create_table(
        "claim_history",
        *_claim_columns(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.String(length=128), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        *_history_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_claim_history"),
        sa.UniqueConstraint(
            "insurer_id", "claim_id", "version", name="uq_claim_history_version"
        ),
    )


def downgrade() -> None:
    for table in ("claim_history", "site_month_history", "site_history"):
        op.drop_table(table)
    op.drop_table("claim")
    op.drop_table("site_month")
    op.drop_table("site")
