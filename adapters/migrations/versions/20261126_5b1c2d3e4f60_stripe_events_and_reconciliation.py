"""stripe events and reconciliation reports

Revision ID: 5b1c2d3e4f60
Revises: 439ece1e3441
Create Date: 2026-11-26 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b1c2d3e4f60"
down_revision: str | None = "439ece1e3441"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=64), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "reconciliation_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("mismatches", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_reports")),
    )
    op.create_index(
        "ix_reconciliation_reports_created", "reconciliation_reports", [sa.text("created_at DESC")]
    )


def downgrade() -> None:
    op.drop_index("ix_reconciliation_reports_created", table_name="reconciliation_reports")
    op.drop_table("reconciliation_reports")
    op.drop_table("stripe_events")
