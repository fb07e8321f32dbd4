"""orders.decided_at: which workflow decision wrote the row

Revision ID: d3c1de7a0b55
Revises: 8c4e2a7d9b13
Create Date: 2026-12-02 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d3c1de7a0b55"
down_revision: str | None = "8c4e2a7d9b13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "orders", sa.Column("decided_at", sa.BigInteger(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("orders", "decided_at")
