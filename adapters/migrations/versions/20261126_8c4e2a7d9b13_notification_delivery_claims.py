"""notification delivery claims

Revision ID: 8c4e2a7d9b13
Revises: 5b1c2d3e4f60
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c4e2a7d9b13"
down_revision: str | None = "5b1c2d3e4f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("delivery_key", sa.String(length=255)))
    op.add_column("notifications", sa.Column("claim_token", sa.String(length=32)))
    op.add_column("notifications", sa.Column("claimed_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("notifications", "claimed_until")
    op.drop_column("notifications", "claim_token")
    op.drop_column("notifications", "delivery_key")
