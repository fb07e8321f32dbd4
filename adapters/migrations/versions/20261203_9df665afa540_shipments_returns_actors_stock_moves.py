"""orders.shipments, orders.returns, order_events.actor and stock_moves

Split shipments, edits and returns: an order's shipments and returns, who caused each
timeline event, and the units each shipment, edit or return moved (once per key).

Revision ID: 9df665afa540
Revises: 6f2b9c4d1e87
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9df665afa540"
down_revision: str | None = "6f2b9c4d1e87"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _jsonb(name: str, default: str) -> sa.Column[object]:
    return sa.Column(
        name,
        postgresql.JSONB(astext_type=sa.Text()),
        nullable=False,
        server_default=sa.text(f"'{default}'::jsonb"),
    )


def upgrade() -> None:
    # existing orders have no shipment list nor returns; existing events were the system's
    op.add_column("orders", _jsonb("shipments", "[]"))
    op.add_column("orders", _jsonb("returns", "[]"))
    op.add_column("order_events", _jsonb("actor", '{"type": "system"}'))
    op.create_table(
        "stock_moves",
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind in ('release', 'commit', 'restock')", name=op.f("ck_stock_moves_kind")
        ),
        sa.PrimaryKeyConstraint("order_id", "key", name=op.f("pk_stock_moves")),
    )


def downgrade() -> None:
    op.drop_table("stock_moves")
    op.drop_column("order_events", "actor")
    op.drop_column("orders", "returns")
    op.drop_column("orders", "shipments")
