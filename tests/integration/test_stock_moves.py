"""Some units of an order's stock at a time, against PostgreSQL (`InventoryStore.move`):
an edit releases, each shipment commits, a received return restocks; each move happens
once per key, and a whole release or commit afterwards settles only what the order still
holds. Through it all, a product's reserved units are what its orders hold and its units
on hand are the start less what shipped plus what came back."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.orders import Unstorable
from adapters.inventory_store import InventoryStore
from adapters.tables import reservations, stock_moves
from tests.integration.helpers import stock
from tests.integration.test_order_activities import a_product, an_order_id

pytestmark = pytest.mark.integration


@pytest.fixture
def store(engine: AsyncEngine) -> InventoryStore:
    return InventoryStore(engine)


async def reserved(store: InventoryStore, lines: dict[str, int]) -> str:
    order_id = an_order_id()
    result = await store.reserve(order_id, list(lines.items()))
    assert result.lines, result
    return order_id


async def held(engine: AsyncEngine, order_id: str) -> dict[str, tuple[int, str]]:
    """The order's reservations: sku -> (quantity, status)."""
    query = select(reservations.c.sku, reservations.c.quantity, reservations.c.status).where(
        reservations.c.order_id == order_id
    )
    async with engine.connect() as conn:
        return {sku: (quantity, status) for sku, quantity, status in await conn.execute(query)}


async def reserved_by_orders(engine: AsyncEngine, sku: str) -> int:
    query = select(func.coalesce(func.sum(reservations.c.quantity), 0)).where(
        reservations.c.sku == sku, reservations.c.status == "reserved"
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_an_edit_releases_some_units_and_the_shipment_commits_the_rest(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug = await a_product(engine, on_hand=10)
    order_id = await reserved(store, {mug: 5})

    assert await store.move(order_id, "edit-1", "release", [(mug, 2)]) == 2
    assert await stock(engine, mug) == (10, 3)
    assert await held(engine, order_id) == {mug: (3, "reserved")}

    assert await store.commit(order_id) == 3
    assert await stock(engine, mug) == (7, 0)
    assert await held(engine, order_id) == {mug: (3, "committed")}


async def test_each_shipment_commits_its_units_and_a_cancel_releases_only_the_rest(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug, shirt = await a_product(engine, on_hand=10), await a_product(engine, on_hand=4)
    order_id = await reserved(store, {mug: 5, shirt: 2})

    assert await store.move(order_id, "S-1", "commit", [(mug, 2)]) == 2
    assert await store.move(order_id, "S-2", "commit", [(mug, 1), (shirt, 2)]) == 3
    assert await stock(engine, mug) == (7, 2)
    assert await stock(engine, shirt) == (2, 0)

    assert await store.release(order_id) == 2
    assert await stock(engine, mug) == (7, 0)
    assert await held(engine, order_id) == {mug: (2, "released"), shirt: (0, "released")}
    assert await store.release(order_id) == 0


async def test_a_line_moves_at_most_what_the_order_still_holds(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug = await a_product(engine, on_hand=10)
    order_id = await reserved(store, {mug: 3})
    other = await reserved(store, {mug: 4})
    unknown = f"NOPE-{uuid.uuid4().hex[:8]}"

    assert await store.move(order_id, "S-1", "commit", [(mug, 5), (unknown, 1)]) == 3
    assert await store.move(order_id, "edit-1", "release", [(mug, 1)]) == 0
    assert await stock(engine, mug) == (7, 4), "the other order's units stay reserved"
    assert await held(engine, other) == {mug: (4, "reserved")}
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(stock_moves.c.kind, stock_moves.c.lines, stock_moves.c.units).where(
                    stock_moves.c.order_id == order_id, stock_moves.c.key == "S-1"
                )
            )
        ).one()
    assert tuple(row) == ("commit", [{"sku": mug, "quantity": 3}], 3), "what actually moved"


async def test_a_settled_order_moves_nothing_more(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug = await a_product(engine, on_hand=10)
    order_id = await reserved(store, {mug: 3})
    assert await store.release(order_id) == 3

    assert await store.move(order_id, "S-1", "commit", [(mug, 1)]) == 0
    assert await store.move(order_id, "edit-1", "release", [(mug, 1)]) == 0
    assert await stock(engine, mug) == (10, 0)


async def test_a_received_return_restocks_and_leaves_reservations_alone(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug = await a_product(engine, on_hand=10)
    order_id = await reserved(store, {mug: 4})
    assert await store.move(order_id, "S-1", "commit", [(mug, 3)]) == 3

    assert await store.move(order_id, "R-1", "restock", [(mug, 2)]) == 2
    assert await stock(engine, mug) == (9, 1)
    assert await held(engine, order_id) == {mug: (1, "reserved")}


async def test_the_same_key_moves_once_and_answers_the_same_units(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug = await a_product(engine, on_hand=10)
    order_id = await reserved(store, {mug: 5})

    assert await store.move(order_id, "S-1", "commit", [(mug, 2)]) == 2
    assert await store.move(order_id, "S-1", "commit", [(mug, 2)]) == 2
    assert await store.move(order_id, "S-1", "commit", [(mug, 4)]) == 2, "the key decides"
    assert await store.move(order_id, "R-1", "restock", [(mug, 1)]) == 1
    assert await store.move(order_id, "R-1", "restock", [(mug, 1)]) == 1
    assert await stock(engine, mug) == (9, 3)


async def test_concurrent_calls_with_the_same_key_move_once(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug = await a_product(engine, on_hand=10)
    order_id = await reserved(store, {mug: 5})

    answers = await asyncio.gather(
        *(store.move(order_id, "S-1", "commit", [(mug, 2)]) for _ in range(5))
    )

    assert answers == [2] * 5
    assert await stock(engine, mug) == (8, 3)


async def test_stock_accounting_holds_through_every_kind_of_move(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    """reserved = what orders hold; on hand = start - shipped + restocked; never short."""
    start = 20
    mug = await a_product(engine, on_hand=start)
    first, second = await reserved(store, {mug: 6}), await reserved(store, {mug: 5})
    shipped = restocked = 0

    async def check() -> None:
        on_hand, product_reserved = await stock(engine, mug)
        assert product_reserved == await reserved_by_orders(engine, mug)
        assert on_hand == start - shipped + restocked
        assert on_hand >= product_reserved >= 0

    await check()
    shipped += await store.move(first, "S-1", "commit", [(mug, 2)])
    await check()
    await store.move(first, "edit-1", "release", [(mug, 1)])
    await check()
    shipped += await store.move(second, "S-1", "commit", [(mug, 5)])
    await check()
    restocked += await store.move(second, "R-1", "restock", [(mug, 3)])
    await check()
    shipped += await store.commit(first)
    await check()
    restocked += await store.move(first, "R-1", "restock", [(mug, 1)])
    await check()
    assert await store.release(second) == 0
    await check()
    assert (shipped, restocked) == (10, 4)
    assert await stock(engine, mug) == (14, 0)


async def test_a_key_the_database_cannot_hold_fails_as_unstorable_and_moves_nothing(
    engine: AsyncEngine, store: InventoryStore
) -> None:
    mug = await a_product(engine, on_hand=10)
    order_id = await reserved(store, {mug: 5})

    with pytest.raises(Unstorable):
        await store.move(order_id, "k" * 65, "commit", [(mug, 1)])
    with pytest.raises(ValueError, match="unknown stock move"):
        await store.move(order_id, "S-1", "ship", [(mug, 1)])
    assert await stock(engine, mug) == (10, 5)
