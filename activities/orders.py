"""Order and inventory activities (task queue `orders`).

The activities reach storage through the ports below (`Inventory`, `OrderWriter`), which the
`orders` worker (workers/orders.py) fills with the PostgreSQL stores: neither these activities
nor the workflow that names them import an adapter."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notification_starts import Choose, NotificationStart, start_notifications
from activities.records import OrderRecord, TimelineEntry

UNSTORABLE = "unstorable"
"""`ApplicationError` type of a write the database will never take: retrying cannot help, so
the workflow gets it at once and takes a decided path (docs/runbook.md, "Find a stuck order")."""


class Unstorable(Exception):
    """A store refused the data by its nature (a value its column cannot hold, text UTF-8
    cannot encode, a read-model row that breaks a constraint): the same write fails again."""


class LineRequest(BaseModel):
    sku: str
    quantity: int


class ReserveStockInput(BaseModel):
    order_id: str
    lines: list[LineRequest]


class PricedLine(BaseModel):
    """A requested line priced from the catalogue at reservation time."""

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


class StockMoveInput(BaseModel):
    """Some units of an order's lines: `release` (reserved back to free), `commit` (reserved
    units shipped) or `restock` (returned units back on hand). `key` names the move within
    the order, so a retry moves nothing twice."""

    order_id: str
    key: str
    kind: Literal["release", "commit", "restock"]
    lines: list[LineRequest]


class RecordOrderInput(BaseModel):
    record: OrderRecord
    timeline: list[TimelineEntry]
    notify: list[NotificationStart] = []
    """The decision's notifications, started once the record is written
    (activities/notification_starts.py); empty before the order's `notify-from-record` patch."""


class Inventory(Protocol):
    """Stock held for orders; every call is safe to repeat for the same order."""

    async def reserve(self, order_id: str, wanted: list[tuple[str, int]]) -> ReserveStockResult:
        """Reserve every (sku, quantity) or none; refusals are outcomes. Raises `Unstorable`."""
        ...

    async def release(self, order_id: str) -> int:
        """Give the order's reserved units back; returns how many (0 when already done)."""
        ...

    async def commit(self, order_id: str) -> int:
        """The order shipped: its reserved units leave; returns how many."""
        ...

    async def move(self, order_id: str, key: str, kind: str, lines: list[tuple[str, int]]) -> int:
        """Release, commit or restock some units once per (order, key); returns how many
        moved (the same number again for a repeated key)."""
        ...


class OrderWriter(Protocol):
    """The read model's writes; a write never moves an order back in time."""

    async def save(self, record: OrderRecord, timeline: list[TimelineEntry]) -> None:
        """Write the row and its timeline entries. Raises `Unstorable`."""
        ...


def _refused(error: Unstorable) -> ApplicationError:
    return ApplicationError(str(error)[:500], type=UNSTORABLE, non_retryable=True)


class OrderActivities:
    """Stock and read-model writes; every one is safe to retry."""

    def __init__(self, inventory: Inventory, orders: OrderWriter, choose: Choose) -> None:
        self._inventory = inventory
        self._orders = orders
        self._choose = choose

    @activity.defn
    async def reserve_stock(self, inp: ReserveStockInput) -> ReserveStockResult:
        """Reserve all lines atomically, priced from the catalogue; out of stock is an outcome."""
        wanted = [(line.sku, line.quantity) for line in inp.lines]
        try:
            return await self._inventory.reserve(inp.order_id, wanted)
        except Unstorable as error:
            raise _refused(error) from error

    @activity.defn
    async def release_stock(self, inp: StockInput) -> int:
        return await self._inventory.release(inp.order_id)

    @activity.defn
    async def commit_stock(self, inp: StockInput) -> int:
        return await self._inventory.commit(inp.order_id)

    @activity.defn
    async def move_stock(self, inp: StockMoveInput) -> int:
        """Release, commit or restock some units of the order's lines, once per key."""
        lines = [(line.sku, line.quantity) for line in inp.lines]
        try:
            return await self._inventory.move(inp.order_id, inp.key, inp.kind, lines)
        except Unstorable as error:
            raise _refused(error) from error

    @activity.defn
    async def record_order(self, inp: RecordOrderInput) -> list[str] | None:
        """Write the order's read model and append its new timeline events, then start the
        decision's notifications; their ids, or None when it has none."""
        try:
            await self._orders.save(inp.record, inp.timeline)
        except Unstorable as error:
            raise _refused(error) from error
        return await start_notifications(inp.notify, self._choose) if inp.notify else None
