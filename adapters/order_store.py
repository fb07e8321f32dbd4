"""The orders read model and timeline in PostgreSQL, written by activities (their
`OrderWriter` port, activities/orders.py), read by the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    column,
    delete,
    exists,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.orders import Unstorable
from activities.records import OrderRecord, TimelineEntry
from adapters.db import autocommit, data_refusal
from adapters.tables import order_events, orders


def _save_statement() -> Any:
    """The row upsert and the timeline write, one statement, applied only when the write
    comes from a later decision than the row's.

    The order workflow writes from local activities, which commit before the workflow task
    that ran them is recorded. If that task is lost (a worker crash), its retry may take
    another path (an operator's ship arrived while a timer's cancel was being decided):
    the lost path's write is a phantom. A retried task runs later in the history, so writes
    are ordered by (`decided_at`, `version`): the history's length at the decision, then
    the transition's number within it. A winning write replaces the phantom's timeline
    entries at the same numbers and removes those past its own version; a losing one (a
    phantom that arrives late, or a plain retry) changes nothing.

    Built once: the caller only binds values. The timeline travels as one JSON array, so
    a transition with any number of events is still one round trip.
    """
    upsert = insert(orders).values({c.name: bindparam(c.name, type_=c.type) for c in orders.c})
    saved = (
        upsert.on_conflict_do_update(
            index_elements=[orders.c.id],
            set_={
                c.name: upsert.excluded[c.name]
                for c in orders.c
                if c.name not in ("id", "created_at")
            },
            where=tuple_(orders.c.decided_at, orders.c.version)
            < tuple_(upsert.excluded.decided_at, upsert.excluded.version),
        )
        .returning(orders.c.id)
        .cte("saved")
    )
    entries = (
        func.jsonb_to_recordset(bindparam("timeline", type_=JSONB))
        .table_valued(
            column("seq", Integer),
            column("type", String),
            column("at", DateTime(timezone=True)),
            column("data", JSONB),
            column("actor", JSONB),
        )
        .render_derived(with_types=True)
    )
    events = (
        select(
            bindparam("event_order_id", type_=String),
            entries.c.seq,
            entries.c.type,
            entries.c.at,
            entries.c.data,
            entries.c.actor,
        )
        .select_from(entries)
        .where(exists(select(saved.c.id)))
    )
    phantoms = (
        delete(order_events)
        .where(
            order_events.c.order_id == bindparam("event_order_id", type_=String),
            order_events.c.seq > bindparam("version", type_=Integer),
            exists(select(saved.c.id)),
        )
        .cte("phantoms")
    )
    written = ["type", "at", "data", "actor"]
    timeline = insert(order_events).from_select(["order_id", "seq", *written], events)
    return timeline.on_conflict_do_update(
        index_elements=[order_events.c.order_id, order_events.c.seq],
        set_={name: timeline.excluded[name] for name in written},
    ).add_cte(saved, phantoms)


SAVE = _save_statement()
GET = select(orders).where(orders.c.id == bindparam("order"))
"""Every status poll reads this: built once, bound per call."""

JSON_COLUMNS = frozenset(c.name for c in orders.c if isinstance(c.type, JSONB))


def _row(record: OrderRecord) -> dict[str, Any]:
    """The record's values for `SAVE`: JSONB columns as JSON (the datetimes inside shipments
    and returns become ISO text, as they read back), the others as their Python types."""
    row = record.model_dump()
    as_json = record.model_dump(mode="json", include=set(JSON_COLUMNS))
    return row | {name: as_json[name] for name in JSON_COLUMNS if name in as_json}


def _entry(entry: TimelineEntry) -> dict[str, Any]:
    """A timeline entry for `SAVE`; a system actor is stored as the column's default."""
    dumped = entry.model_dump(mode="json")
    dumped["actor"] = entry.actor.model_dump(mode="json", exclude_none=True)
    return dumped


class OrderStore:
    """Writes are idempotent (activity retries) and never move an order back in time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    async def save(self, record: OrderRecord, timeline: list[TimelineEntry]) -> None:
        """Raises `Unstorable` when the database refuses the data itself (a value its column
        cannot hold, text UTF-8 cannot encode, a broken constraint): a retry would too."""
        row = _row(record)
        row["event_order_id"] = record.id
        row["timeline"] = [_entry(entry) for entry in timeline]
        try:
            async with self._engine.connect() as conn:
                await conn.execute(SAVE, row)
        except DBAPIError as error:
            if (refusal := data_refusal(error, constraints=True)) is None:
                raise
            raise Unstorable(refusal) from error

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
