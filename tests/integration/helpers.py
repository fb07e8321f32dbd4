"""Helpers for the integration tests: accounts (through the API, or a bare row), orders and
waiting for a status."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.tables import products, users
from tests.integration.conftest import OPERATOR_PASSWORD

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "London",
    "postal_code": "N1 1AA",
    "country": "GB",
}


async def customer(api: httpx.AsyncClient) -> dict[str, str]:
    """A new customer's auth header."""
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    registered = await api.post(
        "/v1/auth/register", json={"email": email, "password": password, "name": "Ada"}
    )
    assert registered.status_code == 201, registered.text
    return await login(api, email, password)


async def login(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    token = await api.post("/v1/auth/token", json={"email": email, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def operator(api: httpx.AsyncClient) -> dict[str, str]:
    return await login(api, "operator@example.com", OPERATOR_PASSWORD)


async def insert_customer(
    conn: AsyncConnection, customer_id: str, *, email: str, name: str, phone: str | None = None
) -> None:
    """A customer row written straight to the database, for tests below the API (no login)."""
    await conn.execute(
        users.insert().values(
            id=customer_id, email=email, name=name, phone=phone, password_hash="not-a-login"
        )
    )


async def stock(engine: AsyncEngine, sku: str) -> tuple[int, int]:
    """A product's (on hand, reserved) units."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(products.c.on_hand, products.c.reserved).where(products.c.sku == sku)
            )
        ).one()
        return int(row.on_hand), int(row.reserved)


def order_body(lines: dict[str, int], payment_method: str = "pm_card_visa") -> dict[str, Any]:
    return {
        "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
        "shipping_address": ADDRESS,
        "payment_method": payment_method,
    }


async def wait_for_status(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    order_id: str,
    status: str,
    timeout: float = 30,  # noqa: ASYNC109
) -> dict[str, Any]:
    """Poll the read model until the order reaches `status`."""
    order: dict[str, Any] = {}
    for _ in range(int(timeout / 0.1)):
        order = (await api.get(f"/v1/orders/{order_id}", headers=headers)).json()
        if order.get("status") == status:
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id} never reached {status}: {order}")
