"""PostgreSQL tables: users, catalogue and stock, reservations and stock moves, the orders
read model, the order timeline, notification deliveries and merchant webhook endpoints with their
deliveries and attempts. Alembic migrations are generated
from here."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    UniqueConstraint,
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

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    # the event names it takes, or ["*"]
    Column("events", JSONB, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    # the signing key; after a rotation the previous one signs too, until previous_secret_until
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text),
    Column("previous_secret_until", DateTime(timezone=True)),
    # the first failed attempt since the last one the endpoint accepted (None: not failing)
    Column("failing_since", DateTime(timezone=True)),
    Column("disabled_at", DateTime(timezone=True)),
    Column("disabled_reason", Text),
    # when the operator was told the endpoint was disabled (None: not yet)
    Column("disabled_notified_at", DateTime(timezone=True)),
    *_timestamps(),
)
"""Merchant webhook endpoints (docs/webhooks.md); `we_env` is the one seeded from
MERCHANT_WEBHOOK_URL and MERCHANT_WEBHOOK_SECRET."""
Index("ix_webhook_endpoints_created", webhook_endpoints.c.created_at, webhook_endpoints.c.id)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "endpoint_id",
        String(40),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # one event occurrence: the same id at every endpoint and on every redelivery
    Column("event_id", String(128), nullable=False),
    Column("event", String(64), nullable=False),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False),
    Column("occurrence", Integer, nullable=False, server_default="1"),
    Column("event_created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    # the attempt series: 1, then one more per redelivery; sent_series: the last one sent
    Column("series", Integer, nullable=False, server_default="1"),
    Column("sent_series", Integer, nullable=False, server_default="0"),
    # the JSON body, frozen at the first attempt: every attempt and redelivery sends the same
    Column("body", Text),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("last_error", Text),
    # the attempt holding the delivery and until when (as notifications' claims)
    Column("claim_token", String(32)),
    Column("claimed_until", DateTime(timezone=True)),
    *_timestamps(),
    CheckConstraint("status in ('pending', 'sent', 'failed')", name="status"),
    UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
)
"""One (endpoint, event occurrence): a durable delivery, retried for a day, redeliverable."""
Index(
    "ix_webhook_deliveries_endpoint_created",
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.created_at.desc(),
    webhook_deliveries.c.id.desc(),
)
Index("ix_webhook_deliveries_event_id", webhook_deliveries.c.event_id)
Index(
    "ix_webhook_deliveries_finished_updated",
    webhook_deliveries.c.updated_at,
    postgresql_where=webhook_deliveries.c.status != "pending",
)
"""The retention's scan: finished deliveries, oldest first (adapters/webhook_deliveries.py)."""

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "delivery_id",
        String(40),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("series", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    # running: the attempt holds the claim (or died holding it); sent; failed
    Column("outcome", String(16), nullable=False, server_default="running"),
    Column("status_code", Integer),
    Column("error", Text),
    CheckConstraint("outcome in ('running', 'sent', 'failed')", name="outcome"),
)
"""Every attempt of a delivery: written when it claims the delivery, completed with its
answer; one left `running` past its claim died without an answer."""
