"""The order activities on the PostgreSQL stores, wired as the `orders` worker wires them:
stock is reserved for all lines or none, priced from the catalogue, and a retry changes
nothing; data the database refuses by its nature fails at once as `unstorable`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import ChannelQuery
from activities.orders import (
    UNSTORABLE,
    LineRequest,
    OrderActivities,
    PricedLine,
    RecordOrderInput,
    ReserveStockInput,
    ReserveStockResult,
    StockInput,
    StockMoveInput,
)
from activities.records import OrderRecord
from adapters.inventory_store import InventoryStore
from adapters.order_store import OrderStore
from adapters.tables import products
from tests.integration.helpers import stock

pytestmark = pytest.mark.integration


@pytest.fixture
def activities(engine: AsyncEngine) -> OrderActivities:
    async def choose(query: ChannelQuery) -> list[str]:
        raise AssertionError("these steps start no notification")

    return OrderActivities(InventoryStore(engine), OrderStore(engine), choose)


async def a_product(engine: AsyncEngine, *, on_hand: int, price: int = 1200) -> str:
    sku = f"TEST-{uuid.uuid4().hex[:10]}"
    async with engine.begin() as conn:
        await conn.execute(
            products.insert().values(
                sku=sku, name=f"Mug {sku}", price_amount=price, currency="EUR", on_hand=on_hand
            )
        )
    return sku


def reserve(order_id: str, lines: dict[str, int]) -> ReserveStockInput:
    return ReserveStockInput(
        order_id=order_id,
        lines=[LineRequest(sku=sku, quantity=quantity) for sku, quantity in lines.items()],
    )


def an_order_id() -> str:
    return f"ord_{uuid.uuid4().hex[:12]}"


async def test_a_reservation_prices_every_line_and_a_retry_takes_nothing_more(
    engine: AsyncEngine, activities: OrderActivities
) -> None:
    mug, shirt = await a_product(engine, on_hand=5), await a_product(engine, on_hand=3, price=2500)
    inp = reserve(an_order_id(), {mug: 2, shirt: 3})
    env = ActivityEnvironment()

    first = await env.run(activities.reserve_stock, inp)
    retried = await env.run(activities.reserve_stock, inp)

    assert (
        first
        == retried
        == ReserveStockResult(
            lines=[
                PricedLine(sku=mug, name=f"Mug {mug}", quantity=2, unit_price=1200, currency="EUR"),
                PricedLine(
                    sku=shirt, name=f"Mug {shirt}", quantity=3, unit_price=2500, currency="EUR"
                ),
            ]
        )
    )
    assert await stock(engine, mug) == (5, 2)
    assert await stock(engine, shirt) == (3, 3)


async def test_short_or_unknown_lines_reserve_nothing(
    engine: AsyncEngine, activities: OrderActivities
) -> None:
    mug, shirt = await a_product(engine, on_hand=5), await a_product(engine, on_hand=1)
    unknown = f"NOPE-{uuid.uuid4().hex[:8]}"

    result = await ActivityEnvironment().run(
        activities.reserve_stock, reserve(an_order_id(), {mug: 1, shirt: 2, unknown: 1})
    )

    assert result == ReserveStockResult(out_of_stock=[shirt], unknown_skus=[unknown])
    assert await stock(engine, mug) == (5, 0)
    assert await stock(engine, shirt) == (1, 0)


async def test_released_stock_returns_once_and_committed_stock_leaves(
    engine: AsyncEngine, activities: OrderActivities
) -> None:
    mug = await a_product(engine, on_hand=5)
    cancelled, shipped = an_order_id(), an_order_id()
    env = ActivityEnvironment()
    await env.run(activities.reserve_stock, reserve(cancelled, {mug: 2}))
    await env.run(activities.reserve_stock, reserve(shipped, {mug: 1}))

    assert await env.run(activities.release_stock, StockInput(order_id=cancelled)) == 2
    assert await env.run(activities.release_stock, StockInput(order_id=cancelled)) == 0
    assert await env.run(activities.commit_stock, StockInput(order_id=shipped)) == 1
    assert await env.run(activities.commit_stock, StockInput(order_id=shipped)) == 0
    assert await stock(engine, mug) == (4, 0)


async def test_a_stock_move_happens_once_per_key(
    engine: AsyncEngine, activities: OrderActivities
) -> None:
    mug = await a_product(engine, on_hand=5)
    order_id = an_order_id()
    env = ActivityEnvironment()
    await env.run(activities.reserve_stock, reserve(order_id, {mug: 3}))
    shipment = StockMoveInput(
        order_id=order_id, key="S-1", kind="commit", lines=[LineRequest(sku=mug, quantity=2)]
    )
    returned = StockMoveInput(
        order_id=order_id, key="R-1", kind="restock", lines=[LineRequest(sku=mug, quantity=1)]
    )

    assert await env.run(activities.move_stock, shipment) == 2
    assert await env.run(activities.move_stock, shipment) == 2
    assert await env.run(activities.move_stock, returned) == 1
    assert await env.run(activities.release_stock, StockInput(order_id=order_id)) == 1
    assert await stock(engine, mug) == (4, 0)


@pytest.mark.parametrize(
    ("order_id", "sku"),
    [
        pytest.param(an_order_id(), "MUG\x00", id="nul-in-text"),
        pytest.param(an_order_id(), "MUG\ud800", id="text-utf8-cannot-encode"),
        pytest.param("o" * 41, None, id="id-longer-than-its-column"),
    ],
)
async def test_data_the_database_refuses_fails_at_once_and_reserves_nothing(
    engine: AsyncEngine, activities: OrderActivities, order_id: str, sku: str | None
) -> None:
    mug = await a_product(engine, on_hand=5)

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            activities.reserve_stock, reserve(order_id, {sku or mug: 1})
        )

    assert refused.value.type == UNSTORABLE
    assert refused.value.non_retryable
    assert "SQLSTATE 22" in refused.value.message
    assert (sku or order_id) not in refused.value.message, "the message names no values"
    assert await stock(engine, mug) == (5, 0)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="customer-not-in-the-database"),
        pytest.param({"status": "accepted\x00"}, id="nul-in-text"),
        pytest.param({"status": "accepted\ud800"}, id="text-utf8-cannot-encode"),
        pytest.param({"shipping_address": {"name": "Ada\ud800"}}, id="json-utf8-cannot-encode"),
    ],
)
async def test_a_read_model_row_the_database_refuses_fails_at_once(
    activities: OrderActivities, change: dict[str, object]
) -> None:
    """The order's customer does not exist (a constraint no retry satisfies), or its text
    cannot be stored."""
    now = datetime.now(UTC)
    refusable = OrderRecord(
        id=an_order_id(),
        customer_id=f"cus_{uuid.uuid4().hex[:12]}",
        status="accepted",
        currency="EUR",
        total=1200,
        lines=[],
        shipping_address={},
        payment_status="pending",
        version=1,
        created_at=now,
        updated_at=now,
    ).model_copy(update=change)

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            activities.record_order, RecordOrderInput(record=refusable, timeline=[])
        )

    assert refused.value.type == UNSTORABLE
    assert refused.value.non_retryable
