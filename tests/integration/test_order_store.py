"""The read model's writes against PostgreSQL: one statement, idempotent, never backwards."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.records import (
    ActorRecord,
    LineRecord,
    OrderRecord,
    ReturnRecord,
    ShipmentRecord,
    TimelineEntry,
    UnitsRecord,
)
from adapters.order_store import OrderStore
from adapters.tables import order_events, orders
from tests.integration.helpers import insert_customer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def a_customer(engine: AsyncEngine) -> str:
    customer_id = f"cus_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await insert_customer(conn, customer_id, email=f"{customer_id}@example.com", name="Ada")
    return customer_id


def record(order_id: str, customer_id: str, status: str, version: int) -> OrderRecord:
    return OrderRecord(
        id=order_id,
        customer_id=customer_id,
        status=status,
        currency="EUR",
        total=2500,
        lines=[LineRecord(sku="MUG", name="Mug", quantity=1, unit_price=2500, total=2500)],
        shipping_address={"name": "Ada", "line2": None},
        payment_status="authorized" if version > 1 else "pending",
        shipment={"carrier": "DHL", "tracking_number": "1"} if status == "shipped" else None,
        version=version,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=version),
    )


def entry(seq: int, kind: str) -> TimelineEntry:
    return TimelineEntry(seq=seq, type=kind, at=T0 + timedelta(minutes=seq), data={"n": seq})


async def stored(engine: AsyncEngine, order_id: str) -> tuple[dict[str, object], list[object]]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(orders).where(orders.c.id == order_id))).mappings().one()
        events = (
            await conn.execute(
                select(order_events.c.seq, order_events.c.type, order_events.c.at)
                .where(order_events.c.order_id == order_id)
                .order_by(order_events.c.seq)
            )
        ).all()
    return dict(row), [tuple(e) for e in events]


async def test_a_new_order_and_its_events_are_written_together(engine: AsyncEngine) -> None:
    store, order_id = OrderStore(engine), uuid.uuid4().hex[:12]
    first = record(order_id, await a_customer(engine), "accepted", 1)

    await store.save(first, [entry(1, "order_placed"), entry(2, "order_accepted")])

    row, events = await stored(engine, order_id)
    assert OrderRecord.model_validate(row) == first
    assert events == [
        (1, "order_placed", T0 + timedelta(minutes=1)),
        (2, "order_accepted", T0 + timedelta(minutes=2)),
    ]


async def test_a_retried_save_changes_nothing(engine: AsyncEngine) -> None:
    store, order_id = OrderStore(engine), uuid.uuid4().hex[:12]
    first = record(order_id, await a_customer(engine), "accepted", 1)

    await store.save(first, [entry(1, "order_accepted")])
    await store.save(first, [entry(1, "order_accepted")])

    row, events = await stored(engine, order_id)
    assert OrderRecord.model_validate(row) == first
    assert events == [(1, "order_accepted", T0 + timedelta(minutes=1))]


async def test_an_older_version_never_overwrites_a_newer_nor_its_timeline(
    engine: AsyncEngine,
) -> None:
    store, order_id = OrderStore(engine), uuid.uuid4().hex[:12]
    customer_id = await a_customer(engine)
    newer = record(order_id, customer_id, "shipped", 3)

    await store.save(newer, [entry(2, "order_confirmed"), entry(3, "order_shipped")])
    await store.save(record(order_id, customer_id, "confirmed", 2), [entry(2, "stale")])
    await store.save(newer, [])

    row, events = await stored(engine, order_id)
    assert OrderRecord.model_validate(row) == newer
    assert [(seq, kind) for seq, kind, _ in events] == [
        (2, "order_confirmed"),
        (3, "order_shipped"),
    ]


async def test_a_later_decision_replaces_a_phantom_transition_and_its_timeline(
    engine: AsyncEngine,
) -> None:
    """A lost workflow task's local activity wrote a cancel (a phantom); its retry, later in
    the history, shipped instead, with fewer events. The ship wins, whole."""
    store, order_id = OrderStore(engine), uuid.uuid4().hex[:12]
    customer_id = await a_customer(engine)
    await store.save(record(order_id, customer_id, "confirmed", 5), [entry(5, "order_confirmed")])
    phantom = record(order_id, customer_id, "cancelled", 7).model_copy(update={"decided_at": 40})
    await store.save(phantom, [entry(6, "order_cancelled"), entry(7, "stock_released")])

    real = record(order_id, customer_id, "shipped", 6).model_copy(update={"decided_at": 46})
    await store.save(real, [entry(6, "order_shipped")])
    await store.save(phantom, [entry(6, "order_cancelled"), entry(7, "stock_released")])  # late

    row, events = await stored(engine, order_id)
    assert OrderRecord.model_validate(row) == real
    assert [(seq, kind) for seq, kind, _ in events] == [
        (5, "order_confirmed"),
        (6, "order_shipped"),
    ]


def split_and_returned(order_id: str, customer_id: str) -> OrderRecord:
    """Two mugs shipped in two parcels, the first delivered, one mug returned."""
    mugs = LineRecord(
        sku="MUG", name="Mug", quantity=2, unit_price=2500, total=5000, shipped=2, returned=1
    )
    parcels = [
        ShipmentRecord(
            id=f"S-{n}",
            carrier="DHL",
            tracking_number=str(n),
            lines=[UnitsRecord(sku="MUG", quantity=1)],
            shipped_at=T0 + timedelta(hours=n),
            delivered_at=T0 + timedelta(days=1) if n == 1 else None,
        )
        for n in (1, 2)
    ]
    returned = ReturnRecord(
        id="R-1",
        status="received",
        lines=[UnitsRecord(sku="MUG", quantity=1)],
        reason="chipped",
        refund=2500,
        requested_at=T0 + timedelta(days=2),
        resolved_at=T0 + timedelta(days=3),
    )
    return record(order_id, customer_id, "partially_shipped", 4).model_copy(
        update={
            "total": 5000,
            "lines": [mugs],
            "shipment": {"carrier": "DHL", "tracking_number": "2"},
            "shipments": parcels,
            "returns": [returned],
        }
    )


async def test_shipments_returns_and_actors_read_back_as_written(engine: AsyncEngine) -> None:
    store, order_id = OrderStore(engine), uuid.uuid4().hex[:12]
    customer_id = await a_customer(engine)
    written = split_and_returned(order_id, customer_id)
    timeline = [
        entry(3, "order_shipped").model_copy(
            update={"actor": ActorRecord(type="operator", id="usr_op")}
        ),
        entry(4, "return_requested").model_copy(
            update={"actor": ActorRecord(type="customer", id=customer_id)}
        ),
    ]

    await store.save(written, timeline)

    got = await store.get(order_id)
    assert got is not None
    assert OrderRecord.model_validate(got) == written
    paged = await store.page(limit=10, customer_id=customer_id)
    assert [OrderRecord.model_validate(row) for row in paged] == [written]
    assert await store.timeline(order_id) == timeline


async def test_a_system_event_and_one_written_before_actors_read_back_as_the_systems(
    engine: AsyncEngine,
) -> None:
    store, order_id = OrderStore(engine), uuid.uuid4().hex[:12]
    await store.save(
        record(order_id, await a_customer(engine), "accepted", 1), [entry(1, "order_accepted")]
    )
    async with engine.begin() as conn:
        await conn.execute(  # as rows were before the column existed
            order_events.insert().values(
                order_id=order_id, seq=2, type="order_confirmed", at=T0, data={}
            )
        )
        actors = (
            await conn.execute(
                select(order_events.c.actor)
                .where(order_events.c.order_id == order_id)
                .order_by(order_events.c.seq)
            )
        ).scalars()
        assert list(actors) == [{"type": "system"}, {"type": "system"}]

    assert [e.actor for e in await store.timeline(order_id)] == [ActorRecord(), ActorRecord()]
