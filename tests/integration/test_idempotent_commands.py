"""Idempotency-Key on orders and their commands: a retried request answers its first
outcome (an order, a refusal, a command's result) and has no second effect; and a Temporal
that does not answer is a 503 problem a client can retry, never a 500."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.settings import Settings
from devstack.services import Service, free_port, start_temporal
from tests.integration.apps import app_client
from tests.integration.helpers import customer, operator, order_body, wait_for_status

pytestmark = pytest.mark.integration


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def confirmed_order(api: httpx.AsyncClient, sku: str = "TSHIRT-BLUE-M") -> str:
    headers = await customer(api)
    placed = await api.post("/v1/orders", json=order_body({sku: 1}), headers=headers)
    assert placed.status_code == 201, placed.text
    await wait_for_status(api, headers, placed.json()["id"], "confirmed")
    return str(placed.json()["id"])


@pytest.fixture
async def stopped_temporal(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Service]]:
    """An app connected to a Temporal dev server of its own, which the test then stops."""
    log = tmp_path_factory.mktemp("stopped-temporal") / "temporal.log"
    temporal = start_temporal(port=free_port(), ui_port=free_port(), db_file=None, log_file=log)
    try:
        async with app_client(settings, temporal_address=temporal.address) as http:
            yield http, temporal
    finally:
        temporal.stop()


async def test_a_temporal_that_does_not_answer_is_a_503_problem_with_retry_after(
    api: httpx.AsyncClient, stopped_temporal: tuple[httpx.AsyncClient, Service]
) -> None:
    headers, op = await customer(api), await operator(api)
    order_id = await confirmed_order(api)  # on the session's Temporal, which stays up
    http, temporal = stopped_temporal
    temporal.stop()

    placed, shipped = await asyncio.gather(  # each call retries for about 10 s first
        http.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers=headers),
        http.post(
            f"/v1/orders/{order_id}/shipments",
            headers={**op, **key()},
            json={"carrier": "DHL", "tracking_number": "JD4"},
        ),
    )

    for answer in (placed, shipped):
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/unavailable"
        assert answer.headers["Retry-After"] == "5"
