"""Every order line of the read model whose order matches a filter, read in keyset pages of
orders for the CSV export (`GET /v1/orders/export`, docs/orders.md "Export").

Memory and statements per page stay the same however many orders match: each page is one
query over at most `page_size` orders (`LIMIT`), starting after the last order of the page
before, on a connection taken for that query only (a slow client never holds one from the
pool between pages). PostgreSQL spreads each order over its lines and picks the address
fields out of its JSON, so the API never decodes a line or an address itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Row,
    String,
    bindparam,
    case,
    cast,
    column,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import orders

PAGE_SIZE = 500
"""Orders per query: at most 25,000 rows (an order has up to 50 lines), usually ~1,000."""


@dataclass(frozen=True)
class ExportFilter:
    """Which orders: any of `statuses` (all when empty), created in `[since, until)`."""

    statuses: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None


_ORDER_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "customer_id",
    "currency",
    "total",
    "payment_status",
    "authorized",
    "captured",
    "refunded",
    "lines",
    "shipping_address",
)
"""What a page reads of each order (not its client secret, shipments or returns)."""


def _text(value: Any, key: str) -> Any:
    return value[key].astext


def _number(value: Any, key: str) -> Any:
    return cast(value[key].astext, BigInteger)


def _count(value: Any, key: str) -> Any:
    """A line's count; lines written before split shipments and returns have none (0)."""
    return case((value.is_(None), None), else_=func.coalesce(_number(value, key), 0))


def _stamp(moment: Any) -> Any:
    """ISO 8601 in UTC to the microsecond (PostgreSQL's own precision), so the text gives
    back the exact instant a page ends at."""
    return func.to_char(func.timezone("UTC", moment), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')


def _page(matching: ExportFilter, *, after: bool, size: int) -> Any:
    """One page: `size` orders, after the order the parameters `after_created_at` and
    `after_id` name when `after`, each as one row per line (an order without lines as one
    row with empty line columns).

    Orders come by `created_at` ascending, then `id` descending: exactly the index
    `ix_orders_created` (`created_at DESC, id`) read backwards, so each page is an index
    range scan with no sort, whether it is the first page or the thousandth."""
    page = select(*(orders.c[name] for name in _ORDER_COLUMNS)).order_by(
        orders.c.created_at, orders.c.id.desc()
    )
    if matching.statuses:
        page = page.where(orders.c.status.in_(matching.statuses))
    if matching.since is not None:
        page = page.where(orders.c.created_at >= matching.since)
    if matching.until is not None:
        page = page.where(orders.c.created_at < matching.until)
    if after:
        created_at = bindparam("after_created_at", type_=DateTime(timezone=True))
        order_id = bindparam("after_id", type_=String)
        page = page.where(
            orders.c.created_at >= created_at,
            or_(orders.c.created_at > created_at, orders.c.id < order_id),
        )
    o = page.limit(size).subquery("o")
    line = (
        func.jsonb_array_elements(o.c.lines)
        .table_valued(column("value", JSONB), with_ordinality="n")
        .render_derived(name="line")
    )
    value, address = line.c.value, o.c.shipping_address
    return (
        select(
            o.c.id.label("order_id"),
            _stamp(o.c.created_at).label("created_at"),
            _stamp(o.c.updated_at).label("updated_at"),
            o.c.status,
            o.c.customer_id,
            o.c.currency,
            o.c.total.label("order_total"),
            o.c.payment_status,
            o.c.authorized,
            o.c.captured,
            o.c.refunded,
            _text(value, "sku").label("sku"),
            _text(value, "name").label("name"),
            _number(value, "quantity").label("quantity"),
            _number(value, "unit_price").label("unit_price"),
            _number(value, "total").label("line_total"),
            _count(value, "shipped").label("shipped"),
            _count(value, "returned").label("returned"),
            _text(address, "name").label("ship_to_name"),
            _text(address, "city").label("ship_to_city"),
            _text(address, "postal_code").label("ship_to_postal_code"),
            _text(address, "country").label("ship_to_country"),
        )
        .select_from(o.outerjoin(line, true()))
        .order_by(o.c.created_at, o.c.id.desc(), line.c.n)
    )


COLUMNS: tuple[str, ...] = tuple(
    c.name for c in _page(ExportFilter(), after=False, size=1).selected_columns
)
"""The export's columns, in order: the CSV's header row."""


class OrderExport:
    """Reads the rows an export streams: each order's lines, oldest order first."""

    def __init__(self, engine: AsyncEngine, *, page_size: int = PAGE_SIZE) -> None:
        self._engine = autocommit(engine)
        self._page_size = page_size

    async def pages(self, matching: ExportFilter) -> AsyncIterator[Sequence[Row[Any]]]:
        """The matching orders' rows, a page of orders at a time, until none is left."""
        first = _page(matching, after=False, size=self._page_size)
        later = _page(matching, after=True, size=self._page_size)
        query, position = first, dict[str, Any]()
        while True:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query, position)).all()
            if rows:
                yield rows
            if len({row.order_id for row in rows}) < self._page_size:
                return
            last = rows[-1]
            query = later
            position = {
                "after_created_at": datetime.fromisoformat(last.created_at),
                "after_id": last.order_id,
            }
