"""Every order of the read model that matches a filter, read in keyset pages for the CSV
export (`GET /v1/orders/export`, docs/orders.md "Export").

Memory and statements per page stay the same however many orders match: each page is one
`LIMIT`ed query that starts after the last order of the one before, on a connection taken
for that query only (a slow client never holds one from the pool between pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import orders

PAGE_SIZE = 500
"""Orders per query: a few hundred kilobytes of rows at most (an order has up to 50 lines)."""

COLUMNS = (
    orders.c.id,
    orders.c.created_at,
    orders.c.updated_at,
    orders.c.status,
    orders.c.customer_id,
    orders.c.currency,
    orders.c.total,
    orders.c.payment_status,
    orders.c.authorized,
    orders.c.captured,
    orders.c.refunded,
    orders.c.lines,
    orders.c.shipping_address,
)
"""What the export shows; the client secret, payment intent and history columns stay out."""


@dataclass(frozen=True)
class ExportFilter:
    """Which orders: any of `statuses` (all when empty), created in `[since, until)`."""

    statuses: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None


class OrderExport:
    """Reads the orders an export streams, oldest first."""

    def __init__(self, engine: AsyncEngine, *, page_size: int = PAGE_SIZE) -> None:
        self._engine = autocommit(engine)
        self._page_size = page_size

    async def pages(self, matching: ExportFilter) -> AsyncIterator[list[dict[str, Any]]]:
        """The matching orders, a page at a time, until none is left.

        Ordered by `created_at` ascending, then `id` descending: exactly the index
        `ix_orders_created` (`created_at DESC, id`) read backwards, so each page is an index
        range scan with no sort, whether it is the first page or the thousandth."""
        query = select(*COLUMNS).order_by(orders.c.created_at, orders.c.id.desc())
        if matching.statuses:
            query = query.where(orders.c.status.in_(matching.statuses))
        if matching.since is not None:
            query = query.where(orders.c.created_at >= matching.since)
        if matching.until is not None:
            query = query.where(orders.c.created_at < matching.until)
        query = query.limit(self._page_size)
        after: tuple[datetime, str] | None = None
        while True:
            page = query
            if after is not None:
                created_at, order_id = after
                page = query.where(
                    orders.c.created_at >= created_at,
                    or_(orders.c.created_at > created_at, orders.c.id < order_id),
                )
            async with self._engine.connect() as conn:
                rows = [dict(row) for row in (await conn.execute(page)).mappings()]
            if rows:
                yield rows
            if len(rows) < self._page_size:
                return
            after = (rows[-1]["created_at"], rows[-1]["id"])
