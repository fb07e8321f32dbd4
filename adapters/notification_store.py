"""Notification delivery state in PostgreSQL: one row per (order, event, channel)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.tables import notifications, order_events, orders, users


class NotificationStore:
    """The delivery key is the row's primary key: a sent row is never sent again."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def _key(self, order_id: str, event: str, channel: str) -> Any:
        return and_(
            notifications.c.order_id == order_id,
            notifications.c.event == event,
            notifications.c.channel == channel,
        )

    async def begin_attempt(self, order_id: str, event: str, channel: str) -> str:
        """Count an attempt; returns the row's status before it ('sent' means: skip)."""
        stmt = (
            insert(notifications)
            .values(order_id=order_id, event=event, channel=channel, attempts=0)
            .on_conflict_do_nothing()
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)
            status = (
                await conn.execute(
                    update(notifications)
                    .where(self._key(order_id, event, channel))
                    .values(
                        attempts=notifications.c.attempts
                        + (notifications.c.status != "sent").cast(notifications.c.attempts.type),
                        updated_at=func.now(),
                    )
                    .returning(notifications.c.status)
                )
            ).scalar_one()
            return str(status)

    async def mark(
        self, order_id: str, event: str, channel: str, *, status: str, error: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "last_error": error, "updated_at": func.now()}
        if status == "sent":
            values["sent_at"] = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(notifications).where(self._key(order_id, event, channel)).values(values)
            )

    async def for_order(self, order_id: str) -> list[dict[str, Any]]:
        query = (
            select(notifications)
            .where(notifications.c.order_id == order_id)
            .order_by(notifications.c.created_at, notifications.c.event, notifications.c.channel)
        )
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def context(self, order_id: str, event: str) -> dict[str, Any] | None:
        """The order, its customer and the event's latest data, for rendering a message."""
        query = (
            select(orders, users.c.email, users.c.name.label("customer_name"), users.c.phone)
            .join(users, users.c.id == orders.c.customer_id)
            .where(orders.c.id == order_id)
        )
        latest = (
            select(order_events.c.data)
            .where(and_(order_events.c.order_id == order_id, order_events.c.type == event))
            .order_by(order_events.c.seq.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            data = (await conn.execute(latest)).scalar()
            return {**dict(row), "event_data": data or {}}
