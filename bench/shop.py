"""The shop's side of the API for load runs (the bench and the chaos run): accounts,
registered and logged in, with every call retried through outages as a shop would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx

from devstack.isolated import OPERATOR_PASSWORD

ADDRESS = {
    "name": "Bench Mark",
    "line1": "1 Main St",
    "city": "London",
    "postal_code": "N1 1AA",
    "country": "GB",
}
"""Where every load order ships to."""


async def retrying(
    call: Callable[[], Awaitable[httpx.Response]], *, attempts: int = 120
) -> httpx.Response:
    """Clients retry through outages (503s and refused connections) like a shop would."""
    for _ in range(attempts):
        try:
            answer = await call()
            if answer.status_code < 500 and answer.status_code != 429:
                return answer
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("the API did not answer through the outage")


async def login(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    """The bearer header of an account (retried through outages)."""
    token = await retrying(
        lambda: api.post("/v1/auth/token", json={"email": email, "password": password})
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def operator(api: httpx.AsyncClient) -> dict[str, str]:
    """The bearer header of the operator of a stack from devstack.isolated."""
    return await login(api, "operator@example.com", OPERATOR_PASSWORD)


async def customer(api: httpx.AsyncClient, prefix: str = "chaos") -> dict[str, str]:
    """A new customer, registered and logged in."""
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
    password = "chaos password 123"  # noqa: S105 - an account of a throwaway stack
    await retrying(
        lambda: api.post(
            "/v1/auth/register", json={"email": email, "password": password, "name": "C"}
        )
    )
    return await login(api, email, password)
