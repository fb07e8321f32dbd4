"""`python -m bench.baseline_api`: the baseline's HTTP edge, the engine's order paths minus
everything of ours (no auth, no PostgreSQL, no validation beyond the body's shape).

POST /v1/orders is the same update-with-start, shipments and delivery the same updates;
GET /v1/orders/{id} reads the OrderStatus search attribute (DescribeWorkflowExecution)
where the engine reads its PostgreSQL read model. With `wait_for`, it long-polls the order's
history (GetWorkflowExecutionHistory waiting for new events) until an upsert sets a wanted
status, where the engine waits for PostgreSQL to notify a status write: each side's own
store tells it, and neither reads on a schedule. Listens on BENCH_BASELINE_PORT.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy

from activities.orders import LineRequest
from adapters.settings import get_settings
from adapters.temporal import connect
from bench.baseline import BaselineOrderWorkflow
from workflows.contracts import AddressInput, OrderPolicy, PlaceOrderInput
from workflows.names import ORDER_STATUS

ORDERS_QUEUE = os.environ.get("BENCH_ORDERS_QUEUE", "bench-orders")
POLICY = OrderPolicy(
    payments_queue=os.environ.get("BENCH_PAYMENTS_QUEUE", "bench-payments"),
    notifications_queue=os.environ.get("BENCH_NOTIFICATIONS_QUEUE", "bench-notifications"),
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.temporal = await connect(get_settings())
    yield


app = FastAPI(lifespan=lifespan)


def _client(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


@app.post("/v1/orders", status_code=201)
async def place_order(request: Request) -> dict[str, Any]:
    body = await request.json()
    order_id = f"base_{uuid.uuid4().hex[:20]}"
    start = WithStartWorkflowOperation(
        BaselineOrderWorkflow.run,
        PlaceOrderInput(
            order_id=order_id,
            customer_id=request.headers.get("authorization", "anonymous")[-20:],
            lines=[LineRequest(**line) for line in body["lines"]],
            shipping_address=AddressInput(**body["shipping_address"]),
            payment_method=body["payment_method"],
            policy=POLICY,
        ),
        id=f"order-{order_id}",
        task_queue=ORDERS_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    state = await _client(request).execute_update_with_start_workflow(
        BaselineOrderWorkflow.accepted, start_workflow_operation=start
    )
    return {"id": order_id, "status": state.status}


def _status_set(event: HistoryEvent) -> str | None:
    """The OrderStatus an event sets, if it sets one."""
    if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        found = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        found = event.workflow_execution_started_event_attributes.search_attributes
    else:
        return None
    payload = found.indexed_fields.get(ORDER_STATUS.name)
    return None if payload is None else str(json.loads(payload.data))


async def _status_reached(handle: WorkflowHandle[Any, Any], wanted: set[str]) -> bool:
    """Until the history sets a wanted status (True), or ends without one (False)."""
    async for event in handle.fetch_history_events(wait_new_event=True):
        if _status_set(event) in wanted:
            return True
    return False


@app.get("/v1/orders/{order_id}")
async def get_order(
    order_id: str,
    request: Request,
    response: Response,
    wait_for: str | None = None,
    timeout: float = 10,  # noqa: ASYNC109 - the engine's query parameter
) -> dict[str, Any]:
    handle = _client(request).get_workflow_handle(f"order-{order_id}")
    if wait_for:
        reached = False
        try:
            async with asyncio.timeout(min(timeout, 30)):
                reached = await _status_reached(handle, set(wait_for.split(",")))
        except TimeoutError:
            pass
        response.headers["X-Wait"] = "reached" if reached else "timeout"
    described = await handle.describe()
    return {"id": order_id, "status": described.typed_search_attributes.get(ORDER_STATUS)}


async def _update(request: Request, order_id: str, update: Any) -> JSONResponse:
    handle = _client(request).get_workflow_handle(f"order-{order_id}")
    try:
        state = await handle.execute_update(update)
    except WorkflowUpdateFailedError as error:
        return JSONResponse({"detail": str(error.cause)}, status_code=409)
    return JSONResponse({"id": order_id, "status": state.status})


@app.post("/v1/orders/{order_id}/shipments")
async def ship_order(order_id: str, request: Request) -> JSONResponse:
    return await _update(request, order_id, BaselineOrderWorkflow.ship)


@app.post("/v1/orders/{order_id}/delivery")
async def deliver_order(order_id: str, request: Request) -> JSONResponse:
    return await _update(request, order_id, BaselineOrderWorkflow.deliver)


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    port = int(os.environ["BENCH_BASELINE_PORT"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
