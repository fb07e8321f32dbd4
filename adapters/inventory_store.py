"""Stock in PostgreSQL: atomic reservations, releases and commits, whole or some units at a
time (`move`); the order activities' `Inventory` port (activities/orders.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.orders import PricedLine, ReserveStockResult, Unstorable
from adapters.db import data_refusal
from adapters.tables import products, reservations, stock_moves

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
RESTOCK = _stock.values(on_hand=products.c.on_hand + bindparam("units"), updated_at=func.now())
_of_order = reservations.c.order_id == bindparam("order")
_held = reservations.c.status == "reserved"
HELD = (
    select(reservations.c.sku, reservations.c.quantity)
    .where(_of_order, _held, reservations.c.sku.in_(bindparam("skus", expanding=True)))
    .order_by(reservations.c.sku)
    .with_for_update()
)
HOLD_LESS = (
    update(reservations)
    .where(_of_order, _held, reservations.c.sku == bindparam("line_sku"))
    .values(quantity=reservations.c.quantity - bindparam("units"), updated_at=func.now())
)
_move = (stock_moves.c.order_id == bindparam("order"), stock_moves.c.key == bindparam("move_key"))
CLAIM = (
    insert(stock_moves)
    .values(
        order_id=bindparam("order"),
        key=bindparam("move_key"),
        kind=bindparam("move_kind"),
        lines=[],
        units=0,
    )
    .on_conflict_do_nothing()
    .returning(stock_moves.c.key)
)
MOVED = select(stock_moves.c.units).where(*_move)
RECORD = (
    update(stock_moves)
    .where(*_move)
    .values(lines=bindparam("moved_lines"), units=bindparam("moved_units"))
)
MOVES = {"release": GIVE_BACK, "commit": SHIP, "restock": RESTOCK}
"""Each kind's change to `products`; `release` and `commit` also lower the reservation."""
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

    async def move(self, order_id: str, key: str, kind: str, lines: list[tuple[str, int]]) -> int:
        """Move some units once per (order, key) and return how many moved; a repeated key
        moves nothing and returns the first call's number.

        `release` gives reserved units back and `commit` ships them (both lower the order's
        reservation, never below 0: a line moves at most what the order still holds);
        `restock` puts returned units back on hand. Unknown skus move nothing. Raises
        `Unstorable` for values the database cannot take."""
        if kind not in MOVES:
            raise ValueError(f"unknown stock move {kind!r}")
        wanted: dict[str, int] = {}
        for sku, quantity in lines:
            wanted[sku] = wanted.get(sku, 0) + max(quantity, 0)
        try:
            return await self._move(order_id, key, kind, wanted)
        except DBAPIError as error:
            if (refusal := data_refusal(error)) is None:
                raise
            raise Unstorable(refusal) from error

    async def _move(self, order_id: str, key: str, kind: str, wanted: dict[str, int]) -> int:
        order = {"order": order_id, "move_key": key}
        skus = sorted(sku for sku, quantity in wanted.items() if quantity > 0)
        async with self._engine.begin() as conn:
            # a concurrent call with the same key waits here until this one commits
            if (await conn.execute(CLAIM, {**order, "move_kind": kind})).first() is None:
                return int((await conn.execute(MOVED, order)).scalar_one())
            held: dict[str, int] = {}
            if kind != "restock" and skus:
                # the reservation before the products, in the order `_settle` takes them
                found = await conn.execute(HELD, {"order": order_id, "skus": skus})
                held = {sku: quantity for sku, quantity in found.all()}
            locked = (await conn.execute(LOCK, {"skus": skus})).all() if skus else []
            known = [row.sku for row in locked]
            moved = {
                sku: wanted[sku] if kind == "restock" else min(wanted[sku], held.get(sku, 0))
                for sku in known
            }
            moved = {sku: units for sku, units in moved.items() if units > 0}
            if moved:
                each = [{"line_sku": sku, "units": units} for sku, units in moved.items()]
                await conn.execute(MOVES[kind], each)
                if kind != "restock":
                    await conn.execute(HOLD_LESS, [{**line, "order": order_id} for line in each])
            record = [{"sku": sku, "quantity": units} for sku, units in moved.items()]
            units = sum(moved.values())
            await conn.execute(RECORD, {**order, "moved_lines": record, "moved_units": units})
            return units

    async def release(self, order_id: str) -> int:
        """Give the order's reserved stock back: every unit it still holds after partial
        moves; returns the units released (0 when already done)."""
        return await self._settle(order_id, "released", on_hand_change=False)

    async def commit(self, order_id: str) -> int:
        """Shipped: the units the order still holds leave the warehouse; returns how many."""
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
