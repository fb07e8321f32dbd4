"""Notification delivery state in PostgreSQL: one row per (order, event, channel, occurrence).

Besides the public state (`pending`, `sent`, `failed`, attempts, last error, sent time) a
row holds the claim of the attempt currently delivering it, so that two attempts can never
talk to the SMTP server or the HTTP receiver at the same time (activities/notifications.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Integer, Interval, String, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.notification_ports import (
    Claim,
    Customer,
    DeliveryKey,
    OrderSummary,
    UnknownOrder,
)
from adapters.db import autocommit
from adapters.tables import notifications, order_events, orders, users

# Statements are built once and only bound per call: building one (and its cache key) for
# every message cost more CPU than the message's whole PostgreSQL round trip.
_c = notifications.c
_KEY = and_(
    _c.order_id == bindparam("key_order_id"),
    _c.event == bindparam("key_event"),
    _c.channel == bindparam("key_channel"),
    _c.occurrence == bindparam("key_occurrence"),
)
_new = insert(notifications).values(
    order_id=bindparam("key_order_id"),
    event=bindparam("key_event"),
    channel=bindparam("key_channel"),
    occurrence=bindparam("key_occurrence"),
    attempts=1,
    claim_token=bindparam("token"),
    claimed_until=func.now() + bindparam("lease", type_=Interval),
    delivery_key=bindparam("delivery"),
)
TAKE = _new.on_conflict_do_update(
    index_elements=[_c.order_id, _c.event, _c.channel, _c.occurrence],
    set_={
        "status": "pending",
        "attempts": _c.attempts + 1,
        "claim_token": _new.excluded.claim_token,
        "claimed_until": _new.excluded.claimed_until,
        "delivery_key": _new.excluded.delivery_key,
        "updated_at": func.now(),
    },
    where=and_(
        _c.status != "sent",
        or_(_c.claim_token.is_(None), _c.claimed_until <= func.now()),
    ),
).returning(_c.created_at)
"""Take the delivery unless it is sent or held by a live claim; returns nothing if refused."""
HELD = select(_c.status, _c.created_at).where(_KEY)
_UNSENT = update(notifications).where(_KEY, _c.status != "sent")
SENT = _UNSENT.values(
    status="sent", sent_at=func.now(), claim_token=None, claimed_until=None, updated_at=func.now()
)
RELEASE = _UNSENT.where(_c.claim_token == bindparam("token")).values(
    last_error=bindparam("error"), claim_token=None, claimed_until=None, updated_at=func.now()
)
FAILED = _UNSENT.values(
    status="failed",
    last_error=bindparam("error"),
    claim_token=None,
    claimed_until=None,
    updated_at=func.now(),
)
FAILED_AFTER_ATTEMPTS = _UNSENT.values(
    status="failed",
    last_error=func.concat(
        bindparam("error", type_=String),
        "; last error: ",
        func.coalesce(_c.last_error, "none recorded"),
    ),
    claim_token=None,
    claimed_until=None,
    updated_at=func.now(),
)
_of_event = (
    select(order_events.c.data)
    .where(order_events.c.order_id == orders.c.id, order_events.c.type == bindparam("event"))
    .limit(1)
)
_nth = (
    _of_event.order_by(order_events.c.seq)
    .offset(bindparam("skip", type_=Integer))
    .scalar_subquery()
)
_latest = _of_event.order_by(order_events.c.seq.desc()).scalar_subquery()
SUMMARY = (
    select(
        orders,
        users.c.email,
        users.c.name.label("customer_name"),
        users.c.phone,
        func.coalesce(_nth, _latest).label("event_data"),
    )
    .join(users, users.c.id == orders.c.customer_id)
    .where(orders.c.id == bindparam("order_id"))
)
"""The order, its customer, and the data of the event's `occurrence`-th entry in the timeline
(the latest when the timeline has fewer: a message about an event always has its data)."""
CUSTOMER = select(users.c.id, users.c.email, users.c.phone).where(
    users.c.id
    == func.coalesce(
        bindparam("customer_id", type_=String),
        select(orders.c.customer_id).where(orders.c.id == bindparam("order_id")).scalar_subquery(),
    )
)


def _key(key: DeliveryKey, **params: Any) -> dict[str, Any]:
    return {
        "key_order_id": key.order_id,
        "key_event": key.event,
        "key_channel": key.channel,
        "key_occurrence": key.occurrence,
        **params,
    }


class NotificationStore:
    """Claims, outcomes and the API's list of deliveries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    async def claim(
        self, key: DeliveryKey, token: str, lease: timedelta, delivery_key: str
    ) -> Claim:
        """Take the delivery for one attempt, for `lease`, unless it is sent or held.

        One statement: the upsert locks the row and takes it only when it is neither sent
        nor held by a live claim. A claim that outlived its lease belonged to an attempt that
        can no longer be running (the lease exceeds the attempt's start-to-close timeout),
        so it is taken over. Only a refused claim reads the row again, to say why.
        """
        try:
            async with self._engine.connect() as conn:
                taken = await conn.execute(
                    TAKE, _key(key, token=token, lease=lease, delivery=delivery_key)
                )
                if (took := taken.first()) is not None:
                    return Claim(outcome="claimed", created_at=took.created_at)
                row = (await conn.execute(HELD, _key(key))).one()
        except IntegrityError as error:  # the foreign key: no such order
            raise UnknownOrder(key.order_id) from error
        outcome: Literal["sent", "busy"] = "sent" if row.status == "sent" else "busy"
        return Claim(outcome=outcome, created_at=row.created_at)

    async def mark_sent(self, key: DeliveryKey) -> None:
        """The receiver accepted the message: unconditional, whoever holds the claim."""
        await self._run(SENT, _key(key))

    async def release(self, key: DeliveryKey, token: str, error: str) -> None:
        """The attempt failed before the receiver accepted: record why, free the delivery."""
        await self._run(RELEASE, _key(key, token=token, error=error))

    async def mark_failed(
        self, key: DeliveryKey, error: str, *, after_attempts: bool = False
    ) -> None:
        """Retries ran out; a row that was sent after all stays sent. `after_attempts`:
        `error` says only why they stopped, and the last attempt's error, which its release
        recorded, follows it."""
        statement = FAILED_AFTER_ATTEMPTS if after_attempts else FAILED
        await self._run(statement, _key(key, error=error))

    async def _run(self, statement: Any, params: dict[str, Any]) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(statement, params)

    async def for_order(self, order_id: str) -> list[dict[str, Any]]:
        query = (
            select(notifications)
            .where(notifications.c.order_id == order_id)
            .order_by(
                notifications.c.created_at,
                notifications.c.event,
                notifications.c.occurrence,
                notifications.c.channel,
            )
        )
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def summary(self, order_id: str, event: str, occurrence: int = 1) -> OrderSummary:
        """The order, its customer and the event's data, for rendering a message."""
        params = {"order_id": order_id, "event": event, "skip": occurrence - 1}
        async with self._engine.connect() as conn:
            row = (await conn.execute(SUMMARY, params)).mappings().first()
        if row is None:
            raise UnknownOrder(order_id)
        return OrderSummary.model_validate({**dict(row), "event_data": row.event_data or {}})

    async def customer(self, order_id: str, customer_id: str | None) -> Customer:
        """The customer a message goes to: `customer_id`, or the order's when it is None."""
        params = {"order_id": order_id, "customer_id": customer_id}
        async with self._engine.connect() as conn:
            row = (await conn.execute(CUSTOMER, params)).mappings().first()
        if row is None:
            raise UnknownOrder(order_id)
        return Customer.model_validate(dict(row))
