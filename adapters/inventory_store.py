"""Stock in PostgreSQL: atomic reservations, releases and commits, and the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

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


@dataclass(frozen=True)
class PricedLine:
    """A requested line priced from the catalogue at reservation time."""

    sku: str
    name: str
    quantity: int
    unit_price: int
    currency: str


@dataclass(frozen=True)
class Reservation:
    """What a reservation attempt achieved; refusals are outcomes, not exceptions."""

    lines: list[PricedLine] = field(default_factory=list)
    out_of_stock: list[str] = field(default_factory=list)
    unknown_skus: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.out_of_stock and not self.unknown_skus


class InventoryStore:
    """Reserves stock for orders so that concurrent orders never oversell."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def reserve(self, order_id: str, wanted: list[tuple[str, int]]) -> Reservation:
        """Reserve every line or none. Retrying for the same order returns the same lines."""
        skus = sorted(sku for sku, _ in wanted)
        quantities = dict(wanted)
        async with self._engine.begin() as conn:
            rows = (await conn.execute(LOCK, {"skus": skus})).mappings().all()
            by_sku = {row["sku"]: row for row in rows}
            priced = [
                PricedLine(
                    sku,
                    by_sku[sku]["name"],
                    quantities[sku],
                    by_sku[sku]["price_amount"],
                    by_sku[sku]["currency"],
                )
                for sku, _ in wanted
                if sku in by_sku
            ]
            if (await conn.execute(RESERVED, {"order": order_id})).first() is not None:
                return Reservation(lines=priced)
            unknown = [sku for sku in skus if sku not in by_sku]
            short = [
                sku
                for sku in skus
                if sku in by_sku
                and by_sku[sku]["on_hand"] - by_sku[sku]["reserved"] < quantities[sku]
            ]
            if unknown or short:
                return Reservation(out_of_stock=short, unknown_skus=unknown)
            await conn.execute(TAKE, [{"line_sku": sku, "units": quantities[sku]} for sku in skus])
            await conn.execute(
                insert(reservations),
                [{"order_id": order_id, "sku": sku, "quantity": quantities[sku]} for sku in skus],
            )
            return Reservation(lines=priced)

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
