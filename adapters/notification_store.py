"""Notification delivery state in PostgreSQL: one row per (order, event, channel).

Besides the public state (`pending`, `sent`, `failed`, attempts, last error, sent time) a
row holds the claim of the attempt currently delivering it, so that two attempts can never
talk to the SMTP server or the HTTP receiver at the same time (activities/notifications.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.order_store import LineRecord
from adapters.tables import notifications, order_events, orders, users


class DeliveryKey(BaseModel):
    """The row's primary key: a delivery that is `sent` is never sent again."""

    order_id: str
    event: str
    channel: str

    def __str__(self) -> str:
        return f"{self.order_id}/{self.event}/{self.channel}"


class Claim(BaseModel):
    """What `claim` found: go ahead, already sent, or held by another live attempt."""

    outcome: Literal["claimed", "sent", "busy"]
    created_at: datetime
    """When the delivery was first attempted: stable across retries (the webhook's `created`)."""


class OrderSummary(BaseModel):
    """The order as a message shows it, with its customer and the event's latest data."""

    id: str
    customer_id: str
    status: str
    currency: str
    total: int
    lines: list[LineRecord]
    shipment: dict[str, str] | None = None
    captured: int = 0
    refunded: int = 0
    customer_name: str
    email: str
    phone: str | None = None
    event_data: dict[str, str | int | None] = {}


class UnknownOrder(Exception):
    """A delivery names an order the read model does not have."""


class NotificationStore:
    """Claims, outcomes and the API's list of deliveries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    @staticmethod
    def _where(key: DeliveryKey) -> Any:
        return and_(
            notifications.c.order_id == key.order_id,
            notifications.c.event == key.event,
            notifications.c.channel == key.channel,
        )

    async def claim(
        self, key: DeliveryKey, token: str, lease: timedelta, delivery_key: str
    ) -> Claim:
        """Take the delivery for one attempt, for `lease`, unless it is sent or held.

        One statement: the upsert locks the row and takes it only when it is neither sent
        nor held by a live claim. A claim that outlived its lease belonged to an attempt that
        can no longer be running (the lease exceeds the attempt's start-to-close timeout),
        so it is taken over. Only a refused claim reads the row again, to say why.
        """
        c = notifications.c
        new = insert(notifications).values(
            order_id=key.order_id,
            event=key.event,
            channel=key.channel,
            attempts=1,
            claim_token=token,
            claimed_until=func.now() + lease,
            delivery_key=delivery_key,
        )
        take = new.on_conflict_do_update(
            index_elements=[c.order_id, c.event, c.channel],
            set_={
                "status": "pending",
                "attempts": c.attempts + 1,
                "claim_token": new.excluded.claim_token,
                "claimed_until": new.excluded.claimed_until,
                "delivery_key": new.excluded.delivery_key,
                "updated_at": func.now(),
            },
            where=and_(
                c.status != "sent",
                or_(c.claim_token.is_(None), c.claimed_until <= func.now()),
            ),
        ).returning(c.created_at)
        try:
            async with self._engine.connect() as conn:
                taken = (await conn.execute(take)).first()
                if taken is not None:
                    return Claim(outcome="claimed", created_at=taken.created_at)
                row = (
                    await conn.execute(select(c.status, c.created_at).where(self._where(key)))
                ).one()
        except IntegrityError as error:  # the foreign key: no such order
            raise UnknownOrder(key.order_id) from error
        outcome: Literal["sent", "busy"] = "sent" if row.status == "sent" else "busy"
        return Claim(outcome=outcome, created_at=row.created_at)

    async def mark_sent(self, key: DeliveryKey) -> None:
        """The receiver accepted the message: unconditional, whoever holds the claim."""
        await self._set(
            key,
            status="sent",
            sent_at=datetime.now(UTC),
            claim_token=None,
            claimed_until=None,
        )

    async def release(self, key: DeliveryKey, token: str, error: str) -> None:
        """The attempt failed before the receiver accepted: record why, free the delivery."""
        await self._set(
            key,
            token=token,
            last_error=error,
            claim_token=None,
            claimed_until=None,
        )

    async def mark_failed(self, key: DeliveryKey, error: str) -> None:
        """Retries ran out; a row that was sent after all stays sent."""
        await self._set(
            key, status="failed", last_error=error, claim_token=None, claimed_until=None
        )

    async def _set(self, key: DeliveryKey, *, token: str | None = None, **values: Any) -> None:
        where = and_(self._where(key), notifications.c.status != "sent")
        if token is not None:
            where = and_(where, notifications.c.claim_token == token)
        async with self._engine.connect() as conn:
            await conn.execute(
                update(notifications).where(where).values(**values, updated_at=func.now())
            )

    async def for_order(self, order_id: str) -> list[dict[str, Any]]:
        query = (
            select(notifications)
            .where(notifications.c.order_id == order_id)
            .order_by(notifications.c.created_at, notifications.c.event, notifications.c.channel)
        )
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def summary(self, order_id: str, event: str) -> OrderSummary:
        """The order, its customer and the event's latest data, for rendering a message."""
        latest = (
            select(order_events.c.data)
            .where(and_(order_events.c.order_id == orders.c.id, order_events.c.type == event))
            .order_by(order_events.c.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(
                orders,
                users.c.email,
                users.c.name.label("customer_name"),
                users.c.phone,
                latest.label("event_data"),
            )
            .join(users, users.c.id == orders.c.customer_id)
            .where(orders.c.id == order_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            raise UnknownOrder(order_id)
        return OrderSummary.model_validate({**dict(row), "event_data": row.event_data or {}})
