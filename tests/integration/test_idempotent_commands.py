"""Idempotency-Key on orders and their commands: a retried request answers its first
outcome (an order, a refusal, a command's result) and has no second effect; and a Temporal
that does not answer is a 503 problem a client can retry, never a 500."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from activities.orders import LineRequest
from adapters.settings import Settings
from adapters.tables import idempotency_keys
from api.order_client import request_hash
from api.order_schemas import PlaceOrderIn
from api.security import decode_token
from devstack.services import Service, free_port, start_temporal
from tests.integration.apps import app_client
from tests.integration.helpers import ADDRESS, customer, operator, order_body, wait_for_status
from tests.integration.test_orders_api import intents_for
from workflows.contracts import AddressInput, OrderPolicy, PlaceOrderInput
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def confirmed_order(api: httpx.AsyncClient, sku: str = "TSHIRT-BLUE-M") -> str:
    headers = await customer(api)
    placed = await api.post("/v1/orders", json=order_body({sku: 1}), headers=headers)
    assert placed.status_code == 201, placed.text
    await wait_for_status(api, headers, placed.json()["id"], "confirmed")
    return str(placed.json()["id"])


async def new_product(api: httpx.AsyncClient, op: dict[str, str], stock: int) -> str:
    sku = f"IDEM-{uuid.uuid4().hex[:8].upper()}"
    created = await api.post(
        "/v1/products",
        headers=op,
        json={
            "sku": sku,
            "name": "Test mug",
            "price": {"amount": 900, "currency": "EUR"},
            "stock": stock,
        },
    )
    assert created.status_code == 201, created.text
    return sku


async def test_a_shipment_retried_with_its_key_answers_the_first_result_and_captures_once(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    op = await operator(api)
    order_id = await confirmed_order(api)
    same = {**op, **key()}
    ship = {"carrier": "DHL", "tracking_number": "JD1"}

    first = await api.post(f"/v1/orders/{order_id}/shipments", headers=same, json=ship)
    again = await api.post(f"/v1/orders/{order_id}/shipments", headers=same, json=ship)

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    [intent] = intents_for(settings, order_id)
    assert intent.status == "succeeded"
    timeline = (await api.get(f"/v1/orders/{order_id}/events", headers=op)).json()
    assert [e["type"] for e in timeline].count("order_shipped") == 1


async def test_a_cancel_retried_with_its_key_after_the_process_ended_answers_200(
    api: httpx.AsyncClient,
) -> None:
    """A cancel ends the order's process; the retry still gets the first answer."""
    order_id = await confirmed_order(api)
    op = await operator(api)
    same = {**op, **key()}

    first = await api.post(f"/v1/orders/{order_id}/cancel", headers=same, json={"reason": "x"})
    again = await api.post(f"/v1/orders/{order_id}/cancel", headers=same, json={"reason": "x"})

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "cancelled"


async def test_a_command_key_sent_again_with_another_body_is_422(api: httpx.AsyncClient) -> None:
    op = await operator(api)
    order_id = await confirmed_order(api)
    same = {**op, **key()}

    first = await api.post(
        f"/v1/orders/{order_id}/shipments",
        headers=same,
        json={"carrier": "DHL", "tracking_number": "JD2"},
    )
    other = await api.post(
        f"/v1/orders/{order_id}/shipments",
        headers=same,
        json={"carrier": "UPS", "tracking_number": "1Z2"},
    )

    assert first.status_code == 200, first.text
    assert other.status_code == 422, other.text
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_one_key_on_two_different_commands_is_422(api: httpx.AsyncClient) -> None:
    """approve and reject have the same body; the command is part of what the key stands for."""
    headers, op = await customer(api), await operator(api)
    big = (
        await api.post("/v1/orders", json=order_body({"ESPRESSO-MACHINE": 1}), headers=headers)
    ).json()
    await wait_for_status(api, headers, big["id"], "under_review")
    same = {**op, **key()}

    approved = await api.post(f"/v1/orders/{big['id']}/approve", headers=same, json={})
    rejected = await api.post(f"/v1/orders/{big['id']}/reject", headers=same, json={})

    assert approved.status_code == 200, approved.text
    assert rejected.status_code == 422, rejected.text
    assert rejected.json()["type"] == "/problems/idempotency-key-reused"
    assert (await api.get(f"/v1/orders/{big['id']}", headers=op)).json()["status"] == "confirmed"


@pytest.mark.parametrize(
    "value",
    [b"tab\tinside", b"caf\xc3\xa9", b"x" * 256],
    ids=["control-character", "not-ascii", "too-long"],
)
async def test_an_idempotency_key_that_is_not_printable_ascii_is_422(
    api: httpx.AsyncClient, value: bytes
) -> None:
    op = await operator(api)
    order_id = await confirmed_order(api)

    answer = await api.post(
        f"/v1/orders/{order_id}/shipments",
        headers=[(b"Authorization", op["Authorization"].encode()), (b"Idempotency-Key", value)],
        json={"carrier": "DHL", "tracking_number": "JD3"},
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "/problems/validation-error"
    order = (await api.get(f"/v1/orders/{order_id}", headers=op)).json()
    assert order["status"] == "confirmed"


async def test_a_replayed_out_of_stock_key_is_409_again_after_stock_was_added(
    api: httpx.AsyncClient,
) -> None:
    """The key stands for the first answer: stock added later does not turn it into an order."""
    headers, op = await customer(api), await operator(api)
    sku = await new_product(api, op, stock=1)
    same = {**headers, **key()}

    refused = await api.post("/v1/orders", json=order_body({sku: 2}), headers=same)
    restocked = await api.post(f"/v1/products/{sku}/stock", headers=op, json={"delta": 5})
    replayed = await api.post("/v1/orders", json=order_body({sku: 2}), headers=same)

    assert refused.status_code == 409, refused.text
    assert restocked.status_code == 200, restocked.text
    assert replayed.status_code == 409, replayed.text
    assert replayed.json() == refused.json()
    assert replayed.json()["type"] == "/problems/out-of-stock"
    assert replayed.json()["skus"] == [sku]
    assert (await api.get("/v1/orders", headers=headers)).json()["items"] == []
    assert (await api.get(f"/v1/products/{sku}")).json()["available"] == 6


async def test_a_replayed_key_whose_process_was_terminated_unaccepted_is_409(
    api: httpx.AsyncClient, settings: Settings, engine: AsyncEngine, temporal: Client
) -> None:
    """The first request started the process and an operator terminated it before it
    accepted the order: the key stands for no order, and never starts another process."""
    headers = await customer(api)
    token = headers["Authorization"].removeprefix("Bearer ")
    body = order_body({"MUG-LOGO": 1})
    order_id, same = f"ord_{uuid.uuid4().hex[:20]}", key()
    async with engine.begin() as conn:
        await conn.execute(
            idempotency_keys.insert().values(
                customer_id=decode_token(settings, token).user_id,
                key=same["Idempotency-Key"],
                request_hash=request_hash("place", PlaceOrderIn.model_validate(body)),
                order_id=order_id,
            )
        )
    started = await temporal.start_workflow(
        OrderWorkflow.run,
        PlaceOrderInput(
            order_id=order_id,
            customer_id=decode_token(settings, token).user_id,
            lines=[LineRequest(sku="MUG-LOGO", quantity=1)],
            shipping_address=AddressInput(**ADDRESS),
            payment_method="pm_card_visa",
            policy=OrderPolicy(),
        ),
        id=f"order-{order_id}",
        task_queue=f"nobody-polls-{uuid.uuid4().hex}",
    )
    await started.terminate("stopped by an operator")

    replayed = await api.post("/v1/orders", json=body, headers={**headers, **same})

    assert replayed.status_code == 409, replayed.text
    assert replayed.json()["type"] == "/problems/conflict"
    assert (await api.get("/v1/orders", headers=headers)).json()["items"] == []


@pytest.fixture
async def stopped_temporal(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Service]]:
    """An app connected to a Temporal dev server of its own, which the test then stops."""
    log = tmp_path_factory.mktemp("stopped-temporal") / "temporal.log"
    temporal = start_temporal(port=free_port(), ui_port=free_port(), db_file=None, log_file=log)
    try:
        async with app_client(settings, temporal_address=temporal.address) as http:
            ready = await http.get("/readyz")  # the API's client connects at its first call
            assert ready.status_code == 200, ready.text
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
