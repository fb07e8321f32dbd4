"""webhook_deliveries: an index of finished deliveries by their last change, for retention

A daily Temporal Schedule deletes the deliveries that are sent or failed and untouched for
`WEBHOOK_DELIVERY_RETENTION` (30 days by default, docs/webhooks.md). The partial index lets
it find them without reading the whole table, and leaves pending deliveries out of it.
Built concurrently, so a large table keeps taking deliveries while it is built.

Revision ID: 3a9c5e1d7f20
Revises: b4e1f07a2c93
Create Date: 2026-12-05 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3a9c5e1d7f20"
down_revision: str | None = "b4e1f07a2c93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_webhook_deliveries_finished_updated "
            "ON webhook_deliveries (updated_at) WHERE status <> 'pending'"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_webhook_deliveries_finished_updated")
