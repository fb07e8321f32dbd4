"""`GET /v1/orders/{id}?wait_for=...` on the real stack: answered at once, woken by a
status written while waiting, or at the timeout with the order as it is; refused values;
another customer's order; and every wait's registration gone once it answers, whether the
client waited for the answer or hung up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.settings import Settings
from adapters.status_waits import StatusWaits
from api.main import create_app
from devstack.services import free_port
from tests.integration.apps import app_client
from tests.integration.helpers import customer, operator, order_body

pytestmark = pytest.mark.integration


@dataclass
class Api:
    http: httpx.AsyncClient
    app: FastAPI

    @property
    def waits(self) -> StatusWaits:
        waits: StatusWaits = self.app.state.services.status_waits
        return waits


@pytest.fixture
async def api(settings: Settings, workers: None) -> AsyncIterator[Api]:
    """An app of the test's own, so its waits are the only ones counted."""
    apps: list[FastAPI] = []
    async with app_client(settings, extend=apps.append) as http:
        yield Api(http, apps[0])


async def confirmed_order(api: Api, sku: str = "MUG-LOGO") -> tuple[str, dict[str, str]]:
    """A new customer's order, once it is confirmed (waited for with the parameter itself)."""
    owner = await customer(api.http)
    placed = await api.http.post("/v1/orders", json=order_body({sku: 1}), headers=owner)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    waited = await api.http.get(
        f"/v1/orders/{order_id}", params={"wait_for": "confirmed", "timeout": 30}, headers=owner
    )
    assert waited.headers["X-Wait"] == "reached", waited.text
    assert waited.json()["status"] == "confirmed"
    return order_id, owner


async def registered(waits: StatusWaits, count: int) -> None:
    """Until `count` waits are registered (the requests reached their wait)."""
    for _ in range(200):
        if waits.waiting == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{waits.waiting} waits registered, expected {count}")


async def ship(api: Api, order_id: str) -> None:
    shipped = await api.http.post(
        f"/v1/orders/{order_id}/shipments",
        headers=await operator(api.http),
        json={"carrier": "DHL", "tracking_number": "JD014600006281"},
    )
    assert shipped.status_code == 200, shipped.text


async def test_an_order_already_in_a_wanted_status_is_answered_as_reached(api: Api) -> None:
    order_id, owner = await confirmed_order(api)

    again = await api.http.get(
        f"/v1/orders/{order_id}",
        params={"wait_for": "shipped,confirmed", "timeout": 30},
        headers=owner,
    )

    assert again.status_code == 200
    assert again.headers["X-Wait"] == "reached"
    assert again.json() == (await api.http.get(f"/v1/orders/{order_id}", headers=owner)).json()
    assert api.waits.waiting == 0


async def test_a_pending_wait_answers_when_the_order_is_shipped(api: Api) -> None:
    order_id, owner = await confirmed_order(api)
    waiting = asyncio.create_task(
        api.http.get(
            f"/v1/orders/{order_id}", params={"wait_for": "shipped", "timeout": 30}, headers=owner
        )
    )
    await registered(api.waits, 1)
    assert not waiting.done()

    await ship(api, order_id)

    answer = await waiting
    assert answer.status_code == 200
    assert answer.headers["X-Wait"] == "reached"
    assert answer.json()["status"] == "shipped"
    assert answer.json()["shipments"][0]["carrier"] == "DHL"
    assert api.waits.waiting == 0


async def test_the_timeout_answers_with_the_order_as_it_is(api: Api) -> None:
    order_id, owner = await confirmed_order(api)

    answer = await api.http.get(
        f"/v1/orders/{order_id}", params={"wait_for": "delivered", "timeout": 0.5}, headers=owner
    )

    assert answer.status_code == 200
    assert answer.headers["X-Wait"] == "timeout"
    assert answer.json()["status"] == "confirmed"
    assert api.waits.waiting == 0


async def test_a_plain_read_says_nothing_about_waiting(api: Api) -> None:
    order_id, owner = await confirmed_order(api)

    answer = await api.http.get(f"/v1/orders/{order_id}", headers=owner)

    assert answer.status_code == 200
    assert "X-Wait" not in answer.headers


@pytest.mark.parametrize(
    "params",
    [
        {"wait_for": "shipping"},
        {"wait_for": ""},
        {"wait_for": "confirmed,"},
        {"wait_for": "confirmed\x00"},
        {"wait_for": "confirmed\n"},
        {"wait_for": "confirmed", "timeout": "31"},
        {"wait_for": "confirmed", "timeout": "-1"},
        {"wait_for": "confirmed", "timeout": "nan"},
        {"wait_for": "confirmed", "timeout": "inf"},
        {"wait_for": "confirmed", "timeout": "soon"},
        {"wait_for": "confirmed", "timeout": "1\x00"},
    ],
)
async def test_bad_wait_values_are_422_problems(api: Api, params: dict[str, str]) -> None:
    order_id, owner = await confirmed_order(api)

    answer = await api.http.get(f"/v1/orders/{order_id}", params=params, headers=owner)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert api.waits.waiting == 0


async def test_another_customers_order_is_404_and_leaves_no_wait(api: Api) -> None:
    order_id, _ = await confirmed_order(api)
    stranger = await customer(api.http)

    answer = await api.http.get(
        f"/v1/orders/{order_id}", params={"wait_for": "shipped", "timeout": 30}, headers=stranger
    )

    assert answer.status_code == 404
    assert "X-Wait" not in answer.headers
    assert api.waits.waiting == 0


async def test_many_waiters_on_one_order_are_all_answered(api: Api) -> None:
    order_id, owner = await confirmed_order(api)
    op = await operator(api.http)
    params = {"wait_for": "shipped,cancelled", "timeout": "30"}
    waiting = [
        asyncio.create_task(
            api.http.get(f"/v1/orders/{order_id}", params=params, headers=(owner, op)[n % 2])
        )
        for n in range(40)
    ]
    await registered(api.waits, 40)

    await ship(api, order_id)

    answers = await asyncio.gather(*waiting)
    assert {a.status_code for a in answers} == {200}
    assert {a.headers["X-Wait"] for a in answers} == {"reached"}
    assert {a.json()["status"] for a in answers} == {"shipped"}
    assert api.waits.waiting == 0


async def test_a_client_that_hangs_up_leaves_no_wait_behind(
    settings: Settings, workers: None
) -> None:
    """Over real HTTP: the client gives up long before the 30 s the wait would last."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            order_id, owner = await confirmed_order(Api(http, app))
            waits: StatusWaits = app.state.services.status_waits
            with pytest.raises(httpx.ReadTimeout):
                await http.get(
                    f"/v1/orders/{order_id}",
                    params={"wait_for": "delivered", "timeout": 30},
                    headers=owner,
                    timeout=httpx.Timeout(30, read=1),
                )
            await registered(waits, 0)  # well before the wait's own 30 s
    finally:
        server.should_exit = True
        await serving


async def test_a_wait_survives_the_listening_connection_being_cut(
    api: Api, engine: AsyncEngine
) -> None:
    order_id, owner = await confirmed_order(api)
    waiting = asyncio.create_task(
        api.http.get(
            f"/v1/orders/{order_id}", params={"wait_for": "shipped", "timeout": 30}, headers=owner
        )
    )
    await registered(api.waits, 1)

    async with engine.connect() as conn:
        cut: Any = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
        assert cut.all(), "no listening connection found"
    await ship(api, order_id)

    answer = await waiting
    assert answer.headers["X-Wait"] == "reached"
    assert answer.json()["status"] == "shipped"
