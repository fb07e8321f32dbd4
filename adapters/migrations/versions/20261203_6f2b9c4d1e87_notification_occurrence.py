"""notifications.occurrence: the same event notified twice is two deliveries

Revision ID: 6f2b9c4d1e87
Revises: d3c1de7a0b55
Create Date: 2026-12-03 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6f2b9c4d1e87"
down_revision: str | None = "d3c1de7a0b55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ["order_id", "event", "channel"]


def upgrade() -> None:
    # existing rows are each event's first notification, which they always were
    op.add_column(
        "notifications",
        sa.Column("occurrence", sa.Integer(), nullable=False, server_default="1"),
    )
    op.drop_constraint("pk_notifications", "notifications", type_="primary")
    op.create_primary_key("pk_notifications", "notifications", [*KEY, "occurrence"])


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE occurrence > 1")
    op.drop_constraint("pk_notifications", "notifications", type_="primary")
    op.create_primary_key("pk_notifications", "notifications", KEY)
    op.drop_column("notifications", "occurrence")
