"""Stock in PostgreSQL: atomic reservations, releases and commits; the order activities'
`Inventory` port (activities/orders.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.orders import PricedLine, ReserveStockResult, Unstorable
from adapters.db import data_refusal
from adapters.tables import products, reservations

# Built once, bound per call (building a statement costs about what its round trip does).
# Row locks are taken in sku order: concurrent orders queue up instead of deadlocking.
LOCK = (
    select(products)
    .where(products.c.sku.in_(bindparam("skus", expanding=True)))
    .order_by(products.c.sku)
    .with_for_update()
)
RESERVED = select(reservations.c.sku).where(reservations.c.order_id == bindparam("order")).limit(1)
_stock = update(products).where(products.c.sku == bindparam("line_sku"))
TAKE = _stock.values(reserved=products.c.reserved + bindparam("units"), updated_at=func.now())
GIVE_BACK = _stock.values(reserved=products.c.reserved - bindparam("units"), updated_at=func.now())
SHIP = _stock.values(
    reserved=products.c.reserved - bindparam("units"),
    on_hand=products.c.on_hand - bindparam("units"),
    updated_at=func.now(),
)
SETTLE = (
    update(reservations)
    .where(reservations.c.order_id == bindparam("order"), reservations.c.status == "reserved")
    .values(status=bindparam("settled"), updated_at=func.now())
    .returning(reservations.c.sku, reservations.c.quantity)
)


class InventoryStore:
    """Reserves stock for orders so that concurrent orders never oversell."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def reserve(self, order_id: str, wanted: list[tuple[str, int]]) -> ReserveStockResult:
        """Reserve every line or none. Retrying for the same order returns the same lines.

        Raises `Unstorable` for values the database cannot take (text UTF-8 cannot encode,
        a number its column cannot hold): the same call would fail again."""
        try:
            return await self._reserve(order_id, wanted)
        except DBAPIError as error:
            if (refusal := data_refusal(error)) is None:
                raise
            raise Unstorable(refusal) from error

    async def _reserve(self, order_id: str, wanted: list[tuple[str, int]]) -> ReserveStockResult:
        skus = sorted(sku for sku, _ in wanted)
        quantities = dict(wanted)
        async with self._engine.begin() as conn:
            rows = (await conn.execute(LOCK, {"skus": skus})).mappings().all()
            by_sku = {row["sku"]: row for row in rows}
            priced = [
                PricedLine(
                    sku=sku,
                    name=by_sku[sku]["name"],
                    quantity=quantities[sku],
                    unit_price=by_sku[sku]["price_amount"],
                    currency=by_sku[sku]["currency"],
                )
                for sku, _ in wanted
                if sku in by_sku
            ]
            if (await conn.execute(RESERVED, {"order": order_id})).first() is not None:
                return ReserveStockResult(lines=priced)
            unknown = [sku for sku in skus if sku not in by_sku]
            short = [
                sku
                for sku in skus
                if sku in by_sku
                and by_sku[sku]["on_hand"] - by_sku[sku]["reserved"] < quantities[sku]
            ]
            if unknown or short:
                return ReserveStockResult(out_of_stock=short, unknown_skus=unknown)
            await conn.execute(TAKE, [{"line_sku": sku, "units": quantities[sku]} for sku in skus])
            await conn.execute(
                insert(reservations),
                [{"order_id": order_id, "sku": sku, "quantity": quantities[sku]} for sku in skus],
            )
            return ReserveStockResult(lines=priced)

    async def release(self, order_id: str) -> int:
        """Give reserved stock back; returns the units released (0 when already done)."""
        return await self._settle(order_id, "released", on_hand_change=False)

    async def commit(self, order_id: str) -> int:
        """Shipped: reserved units leave the warehouse; returns the units committed."""
        return await self._settle(order_id, "committed", on_hand_change=True)

    async def _settle(self, order_id: str, status: str, *, on_hand_change: bool) -> int:
        async with self._engine.begin() as conn:
            found = await conn.execute(SETTLE, {"order": order_id, "settled": status})
            settled = sorted(found.all())
            if settled:
                await conn.execute(
                    SHIP if on_hand_change else GIVE_BACK,
                    [{"line_sku": sku, "units": quantity} for sku, quantity in settled],
                )
            return sum(quantity for _, quantity in settled)
