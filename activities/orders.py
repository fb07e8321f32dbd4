"""Order and inventory activities (task queue `orders`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.records import OrderRecord, TimelineEntry
from adapters.inventory_store import InventoryStore
from adapters.order_store import OrderStore

T = TypeVar("T")

UNSTORABLE = "unstorable"
"""`ApplicationError` type of a write the database will never take: retrying cannot help, so
the workflow gets it at once and takes a decided path (docs/runbook.md, "Find a stuck order")."""


async def _storable(write: Callable[[], Awaitable[T]], *, integrity: bool = False) -> T:
    """Run `write`; data the database refuses by its nature (a `DataError`, text UTF-8 cannot
    encode, and for read-model writes an `IntegrityError`) fails without retries."""
    try:
        return await write()
    except (DataError, UnicodeEncodeError) as error:
        raise ApplicationError(str(error)[:500], type=UNSTORABLE, non_retryable=True) from error
    except IntegrityError as error:
        if not integrity:
            raise
        raise ApplicationError(str(error)[:500], type=UNSTORABLE, non_retryable=True) from error


class LineRequest(BaseModel):
    sku: str
    quantity: int


class ReserveStockInput(BaseModel):
    order_id: str
    lines: list[LineRequest]


class PricedLine(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: int
    currency: str


class ReserveStockResult(BaseModel):
    """Priced lines when reserved; otherwise the skus that could not be reserved."""

    lines: list[PricedLine] = []
    out_of_stock: list[str] = []
    unknown_skus: list[str] = []


class StockInput(BaseModel):
    order_id: str


class RecordOrderInput(BaseModel):
    record: OrderRecord
    timeline: list[TimelineEntry]


class OrderActivities:
    """Stock and read-model writes; every one is safe to retry."""

    def __init__(self, inventory: InventoryStore, orders: OrderStore) -> None:
        self._inventory = inventory
        self._orders = orders

    @activity.defn
    async def reserve_stock(self, inp: ReserveStockInput) -> ReserveStockResult:
        """Reserve all lines atomically, priced from the catalogue; out of stock is an outcome."""
        reservation = await _storable(
            lambda: self._inventory.reserve(
                inp.order_id, [(line.sku, line.quantity) for line in inp.lines]
            )
        )
        return ReserveStockResult(
            lines=[
                PricedLine.model_validate(line, from_attributes=True) for line in reservation.lines
            ],
            out_of_stock=reservation.out_of_stock,
            unknown_skus=reservation.unknown_skus,
        )

    @activity.defn
    async def release_stock(self, inp: StockInput) -> int:
        return await self._inventory.release(inp.order_id)

    @activity.defn
    async def commit_stock(self, inp: StockInput) -> int:
        return await self._inventory.commit(inp.order_id)

    @activity.defn
    async def record_order(self, inp: RecordOrderInput) -> None:
        """Write the order's read model and append its new timeline events."""
        await _storable(lambda: self._orders.save(inp.record, inp.timeline), integrity=True)
