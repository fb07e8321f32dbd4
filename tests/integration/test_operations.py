"""Operations on the real parts: encrypted histories, the codec server, request ids, metrics.

The engine runs here a second time, with `PAYLOAD_ENCRYPTION_KEY` set, in its own Temporal
namespace (so its workers own the usual task queue names there), against the same
PostgreSQL, localstripe and SMTP sink as the other integration tests.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from pydantic import SecretStr
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from adapters.settings import Settings
from adapters.temporal import connect
from api.main import create_app
from tests.conftest import register_search_attributes
from tests.integration.helpers import ADDRESS, login, operator, order_body, wait_for_status
from workers import notifications, orders, payments
from workflows.names import notifications_query

pytestmark = pytest.mark.integration

UI = "http://127.0.0.1:8233"


async def _namespace(settings: Settings) -> str:
    """A fresh namespace with the search attributes, once the frontend serves it."""
    namespace = f"encrypted-{uuid.uuid4().hex[:8]}"
    plain = await Client.connect(settings.temporal_address)
    await plain.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = await Client.connect(settings.temporal_address, namespace=namespace)
    for _ in range(100):
        try:
            await client.count_workflows()
            await register_search_attributes(client)
            return namespace
        except RPCError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"namespace {namespace} never became usable")


@pytest.fixture(scope="module")
async def encrypted(settings: Settings) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """Settings, and the API in-process, of an engine whose payloads are encrypted."""
    key = base64.b64encode(os.urandom(32)).decode()
    keyed = settings.model_copy(
        update={
            "temporal_namespace": await _namespace(settings),
            "payload_encryption_key": SecretStr(key),
            "temporal_ui_url": UI,
        }
    )
    temporal = await connect(keyed)
    async with AsyncExitStack() as stack:
        for module in (orders, payments, notifications):
            await stack.enter_async_context(await module.build(temporal, keyed))
        app = create_app(keyed)
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://api")
        )
        yield keyed, api


async def _history_bytes(settings: Settings, workflow_id: str) -> bytes:
    """The history as Temporal stores it, read by a client that has no key."""
    raw = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    return History(events=history.events).SerializeToString()


async def _placed_order(api: httpx.AsyncClient, request_id: str) -> tuple[str, str, dict[str, str]]:
    email = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    registered = await api.post(
        "/v1/auth/register", json={"email": email, "password": password, "name": "Grace"}
    )
    assert registered.status_code == 201, registered.text
    headers = await login(api, email, password)
    placed = await api.post(
        "/v1/orders",
        json=order_body({"TSHIRT-BLUE-M": 1}),
        headers={**headers, "X-Request-ID": request_id},
    )
    assert placed.status_code == 201, placed.text
    assert placed.headers["X-Request-ID"] == request_id
    order_id = placed.json()["id"]
    await wait_for_status(api, headers, order_id, "confirmed")
    return order_id, email, headers


async def test_history_in_temporal_holds_no_plaintext_address_or_email(
    encrypted: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, api = encrypted
    order_id, email, _ = await _placed_order(api, f"req-{uuid.uuid4().hex}")
    temporal = await connect(settings)
    query = notifications_query(order_id)
    for _ in range(100):
        notices = [w.id async for w in temporal.list_workflows(query)]
        if notices:
            break
        await asyncio.sleep(0.1)
    assert notices, "no notification workflow to inspect"
    for workflow_id in (f"order-{order_id}", f"payment-{order_id}", *notices):
        stored = await _history_bytes(settings, workflow_id)
        assert b"binary/encrypted" in stored
        for secret in (ADDRESS["line1"], ADDRESS["postal_code"], email):
            assert secret.encode() not in stored, f"{secret!r} readable in {workflow_id}"


async def test_request_id_travels_in_temporal_headers(
    encrypted: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, api = encrypted
    request_id = f"req-{uuid.uuid4().hex}"
    order_id, _, _ = await _placed_order(api, request_id)
    for workflow_id in (f"order-{order_id}", f"payment-{order_id}"):
        # the header is not encrypted: it is a correlation id, not customer data
        assert request_id.encode() in await _history_bytes(settings, workflow_id)


async def test_operator_decodes_what_the_ui_shows(
    encrypted: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, api = encrypted
    order_id, _, customer = await _placed_order(api, f"req-{uuid.uuid4().hex}")
    raw = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    history = await raw.get_workflow_handle(f"order-{order_id}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in started.input.payloads
        ]
    }
    ns = {"X-Namespace": settings.temporal_namespace}
    assert (await api.post("/codec/decode", json=body, headers=ns)).status_code == 401
    forbidden = await api.post("/codec/decode", json=body, headers={**ns, **customer})
    assert forbidden.status_code == 403
    decoded = await api.post("/codec/decode", json=body, headers={**ns, **await operator(api)})
    assert decoded.status_code == 200, decoded.text
    [payload] = decoded.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    assert ADDRESS["line1"].encode() in base64.b64decode(payload["data"])


async def test_codec_encode_then_decode_round_trips(
    encrypted: tuple[Settings, httpx.AsyncClient],
) -> None:
    _, api = encrypted
    headers = await operator(api)
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"secret"').decode(),
    }
    encoded = await api.post("/codec/encode", json={"payloads": [plain]}, headers=headers)
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    decoded = await api.post("/codec/decode", json=encoded.json(), headers=headers)
    assert decoded.json() == {"payloads": [plain]}


async def test_codec_answers_the_ui_preflight_and_only_for_its_origin(
    encrypted: tuple[Settings, httpx.AsyncClient],
) -> None:
    _, api = encrypted
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    ok = await api.options("/codec/decode", headers={**preflight, "Origin": UI})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == UI
    other = await api.options("/codec/decode", headers={**preflight, "Origin": "http://evil"})
    assert "access-control-allow-origin" not in other.headers


async def test_request_id_is_generated_when_absent_and_metrics_count_routes(
    encrypted: tuple[Settings, httpx.AsyncClient],
) -> None:
    _, api = encrypted
    answer = await api.get("/v1/products/TSHIRT-BLUE-M")
    assert len(answer.headers["X-Request-ID"]) == 32
    bogus = await api.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert bogus.headers["X-Request-ID"] != "bad id with spaces"
    metrics = await api.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'http_requests_total{method="GET",route="/v1/products/{sku}",status="200"}' in text
    assert "engine_orders{" in text
