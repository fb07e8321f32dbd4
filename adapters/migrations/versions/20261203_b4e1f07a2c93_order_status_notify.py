"""orders: NOTIFY order_status with "<id> <status>" whenever an order's status is written

Clients that wait for a status (`GET /v1/orders/{id}?wait_for=...`, docs/orders.md) are
woken by these notifications instead of reading the row again and again. A trigger rather
than a statement in the order store: every write of the status notifies, whoever makes it,
and only once it commits (PostgreSQL delivers NOTIFY at commit). An upsert that changes
nothing (a stale or repeated write, adapters/order_store.py) updates no row, so it notifies
nobody; nor does a write that keeps the status.

Revision ID: b4e1f07a2c93
Revises: 72d79803e427
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b4e1f07a2c93"
down_revision: str | None = "72d79803e427"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION notify_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('order_status', NEW.id || ' ' || NEW.status);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER orders_status_inserted AFTER INSERT ON orders "
        "FOR EACH ROW EXECUTE FUNCTION notify_order_status()"
    )
    op.execute(
        "CREATE TRIGGER orders_status_changed AFTER UPDATE OF status ON orders "
        "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
        "EXECUTE FUNCTION notify_order_status()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER orders_status_changed ON orders")
    op.execute("DROP TRIGGER orders_status_inserted ON orders")
    op.execute("DROP FUNCTION notify_order_status()")
