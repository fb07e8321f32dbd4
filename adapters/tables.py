"""PostgreSQL tables: users, catalogue and stock, reservations and stock moves, the orders
read model, the order timeline and notification deliveries. Alembic migrations are generated
from here."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("phone", String(32)),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False, server_default="customer"),
    *_timestamps(),
    CheckConstraint("role in ('customer', 'operator')", name="role"),
)
Index("uq_users_email_lower", func.lower(users.c.email), unique=True)

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    *_timestamps(),
    CheckConstraint("price_amount >= 0", name="price_not_negative"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("on_hand >= reserved", name="on_hand_covers_reserved"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("sku", String(64), ForeignKey("products.sku"), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default="reserved"),
    *_timestamps(),
    CheckConstraint("status in ('reserved', 'released', 'committed')", name="status"),
)
"""`quantity` is what the order still holds: partial moves (`stock_moves`) lower it, down to
0; `status` turns `released` or `committed` when the rest is given back or shipped whole."""

stock_moves = Table(
    "stock_moves",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("units", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind in ('release', 'commit', 'restock')", name="kind"),
)
"""Some units of an order moved once per key (a shipment's commit, an edit's release, a
return's restock): `lines` and `units` are what actually moved, which a repeat answers."""

orders = Table(
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("users.id"), nullable=False),
    Column("status", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("shipping_address", JSONB, nullable=False),
    Column("payment_status", String(32), nullable=False, server_default="pending"),
    Column("payment_intent_id", String(64)),
    Column("client_secret", Text),
    Column("authorized", BigInteger, nullable=False, server_default="0"),
    Column("captured", BigInteger, nullable=False, server_default="0"),
    Column("refunded", BigInteger, nullable=False, server_default="0"),
    Column("shipment", JSONB),
    Column("shipments", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("returns", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("decided_at", BigInteger, nullable=False, server_default="0"),
    *_timestamps(),
)
Index("ix_orders_customer_created", orders.c.customer_id, orders.c.created_at.desc(), orders.c.id)
Index("ix_orders_created", orders.c.created_at.desc(), orders.c.id)
Index("ix_orders_status_created", orders.c.status, orders.c.created_at.desc(), orders.c.id)

order_events = Table(
    "order_events",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # who caused it (activities/records.py `ActorRecord`); rows from before actors: the system
    Column("actor", JSONB, nullable=False, server_default=text("""'{"type": "system"}'::jsonb""")),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("order_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

notifications = Table(
    "notifications",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("event", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    # the how-many-th time the order notified this event (a second partial refund is 2)
    Column("occurrence", Integer, primary_key=True, server_default="1"),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("sent_at", DateTime(timezone=True)),
    # what the receiver sees on every attempt: Message-ID, webhook `id`, SMS Idempotency-Key
    Column("delivery_key", String(255)),
    # the attempt holding the delivery and until when (activities/notifications.py explains)
    Column("claim_token", String(32)),
    Column("claimed_until", DateTime(timezone=True)),
    *_timestamps(),
    CheckConstraint("status in ('pending', 'sent', 'failed')", name="status"),
)

stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(128), nullable=False),
    Column("payment_intent_id", String(64)),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
"""Verified Stripe webhook events, recorded once: a redelivered event has no second effect."""

reconciliation_reports = Table(
    "reconciliation_reports",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("checked", Integer, nullable=False),
    Column("mismatches", JSONB, nullable=False),
)
"""Each run of the ledger-versus-Stripe comparison, newest read by operators."""
Index("ix_reconciliation_reports_created", reconciliation_reports.c.created_at.desc())
