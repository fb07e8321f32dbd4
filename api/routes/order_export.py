"""`GET /v1/orders/export`: every matching order as CSV, one row per order line, streamed
(docs/orders.md "Export").

The answer is written a page of orders at a time as the store reads them (one `LIMIT`ed
query per page, adapters/order_export.py), so memory stays flat whether ten orders match or
a million. Registered before the orders router, whose `/v1/orders/{order_id}` would
otherwise take `export` for an order id."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from adapters.order_export import COLUMNS, ExportFilter
from api.deps import OperatorUser, ServicesDep
from api.errors import problems
from domain.orders import OrderStatus

router = APIRouter(prefix="/v1/orders", tags=["orders"])

HEADER = COLUMNS
"""order_id, created_at, ... ship_to_country: one order line per row, money in minor units."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula (OWASP "CSV injection")."""


def _statuses(value: object) -> object:
    """`?status=a&status=b` and `?status=a,b` alike: each value may be a comma list."""
    if isinstance(value, list):
        return [part for item in value for part in str(item).split(",")]
    return value


def _instant(value: object) -> object:
    """An ISO 8601 date or date-time; refuses other shapes (a bare number, say) that a
    lenient datetime parser would take."""
    if not isinstance(value, str):
        return value
    if len(value) > 64:
        raise ValueError("too long for a date or date-time")
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(value)
        except ValueError:
            continue
    raise ValueError("not an ISO 8601 date (2026-12-03) or date-time (2026-12-03T10:00:00Z)")


Statuses = Annotated[list[OrderStatus], BeforeValidator(_statuses)]
Instant = Annotated[date | datetime | None, BeforeValidator(_instant)]


def _utc(value: date | datetime, *, end: bool) -> datetime:
    """A bound as a UTC instant: a date is its whole day (UTC), a date-time without an offset
    is UTC; the end bound is exclusive, so an end date takes in its day and an end date-time
    its own microsecond. One beyond what a datetime holds (year 1 at 00:00+01:00, the day
    after 9999-12-31) is the nearest one it does."""
    try:
        if not isinstance(value, datetime):
            start = datetime.combine(value, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment + timedelta(microseconds=1) if end else moment
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def export_filter(
    statuses: list[OrderStatus],
    created_from: date | datetime | None,
    created_to: date | datetime | None,
) -> ExportFilter:
    since = None if created_from is None else _utc(created_from, end=False)
    until = None if created_to is None else _utc(created_to, end=True)
    if since is not None and until is not None and since >= until:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "created_from"),
                    "msg": "created_from is after created_to",
                    "type": "value_error",
                }
            ]
        )
    return ExportFilter(statuses=[str(status) for status in statuses], since=since, until=until)


def _cells(row: Sequence[object]) -> list[object]:
    """A row as CSV cells: text a spreadsheet would run gets a leading `'`."""
    return [
        "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
        for value in row
    ]


async def csv_chunks(pages: AsyncIterator[Sequence[Sequence[object]]]) -> AsyncIterator[bytes]:
    """The header, then one chunk per page of orders: a page's rows are written into a
    buffer of their own, so nothing grows with the export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    async for page in pages:
        writer.writerows(map(_cells, page))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # no order matched: the header alone
        yield buffer.getvalue().encode()


async def _started(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "a header row, then one row per order line (money in minor units)",
        },
        **problems(
            {
                403: "customers may not export",
                422: "unknown format or status, malformed date, created_from after created_to",
            }
        ),
    },
)
async def export_orders(
    _: OperatorUser,
    services: ServicesDep,
    format: Literal["csv"] = "csv",
    status: Annotated[
        Statuses,
        Query(description="one or more statuses, repeated or comma-separated; all if absent"),
    ] = [],  # noqa: B006 - FastAPI copies defaults per request
    created_from: Annotated[
        Instant,
        Query(description="ISO 8601 date or date-time (UTC without an offset), inclusive"),
    ] = None,
    created_to: Annotated[
        Instant,
        Query(description="ISO 8601 date (its whole day) or date-time, inclusive"),
    ] = None,
) -> StreamingResponse:
    """Every matching order, oldest first, one CSV row per order line.

    Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
    carriage return) gets a leading `'`."""
    matching = export_filter(status, created_from, created_to)
    chunks = csv_chunks(services.order_export.pages(matching))
    # the first page is read before the answer starts, so a database that does not answer
    # is still a 503 problem rather than a 200 cut short
    first = await anext(chunks)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _started(first, chunks),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="orders-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
