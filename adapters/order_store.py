"""The orders read model and timeline in PostgreSQL, written by activities, read by the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import DateTime, Integer, String, and_, bindparam, column, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import order_events, orders


class LineRecord(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: int
    total: int


class OrderRecord(BaseModel):
    """An order as the read model stores it; `version` grows with every transition."""

    id: str
    customer_id: str
    status: str
    currency: str
    total: int
    lines: list[LineRecord]
    shipping_address: dict[str, str | None]
    payment_status: str
    payment_intent_id: str | None = None
    client_secret: str | None = None
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    shipment: dict[str, str] | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class TimelineEntry(BaseModel):
    """One event of an order's timeline (`GET /v1/orders/{id}/events`)."""

    seq: int
    type: str
    at: datetime
    data: dict[str, str | int | None]


def _save_statement() -> Any:
    """The row upsert (never to an older version) and the timeline append, one statement.

    Built once: the caller only binds values. The timeline travels as one JSON array, so
    a transition with any number of events is still one round trip.
    """
    upsert = insert(orders).values({c.name: bindparam(c.name, type_=c.type) for c in orders.c})
    upsert = upsert.on_conflict_do_update(
        index_elements=[orders.c.id],
        set_={
            c.name: upsert.excluded[c.name] for c in orders.c if c.name not in ("id", "created_at")
        },
        where=orders.c.version < upsert.excluded.version,
    )
    entries = (
        func.jsonb_to_recordset(bindparam("timeline", type_=JSONB))
        .table_valued(
            column("seq", Integer),
            column("type", String),
            column("at", DateTime(timezone=True)),
            column("data", JSONB),
        )
        .render_derived(with_types=True)
    )
    events = select(
        bindparam("event_order_id", type_=String),
        entries.c.seq,
        entries.c.type,
        entries.c.at,
        entries.c.data,
    ).select_from(entries)
    return (
        insert(order_events)
        .from_select(["order_id", "seq", "type", "at", "data"], events)
        .on_conflict_do_nothing()
        .add_cte(upsert.cte("saved"))
    )


SAVE = _save_statement()
GET = select(orders).where(orders.c.id == bindparam("order"))
"""Every status poll reads this: built once, bound per call."""


class OrderStore:
    """Writes are idempotent (activity retries) and never move an order back in time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    async def save(self, record: OrderRecord, timeline: list[TimelineEntry]) -> None:
        row = record.model_dump()
        row["event_order_id"] = record.id
        row["timeline"] = [entry.model_dump(mode="json") for entry in timeline]
        async with self._engine.connect() as conn:
            await conn.execute(SAVE, row)

    async def get(self, order_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            found = (await conn.execute(GET, {"order": order_id})).mappings().first()
            return dict(found) if found else None

    async def page(
        self,
        *,
        limit: int,
        customer_id: str | None = None,
        status: str | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, keyset-paginated on (created_at, id) so inserts never shift pages."""
        query = select(orders).order_by(orders.c.created_at.desc(), orders.c.id.desc())
        if customer_id is not None:
            query = query.where(orders.c.customer_id == customer_id)
        if status is not None:
            query = query.where(orders.c.status == status)
        if after is not None:
            created_at, order_id = after
            query = query.where(
                or_(
                    orders.c.created_at < created_at,
                    and_(orders.c.created_at == created_at, orders.c.id < order_id),
                )
            )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.limit(limit))
            return [dict(row) for row in rows.mappings()]

    async def timeline(self, order_id: str) -> list[TimelineEntry]:
        query = (
            select(order_events)
            .where(order_events.c.order_id == order_id)
            .order_by(order_events.c.seq)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [TimelineEntry.model_validate(dict(row)) for row in rows.mappings()]
