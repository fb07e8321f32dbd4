"""`python -m bench.baseline_api`: the baseline's HTTP edge, the engine's order paths minus
everything of ours (no auth, no PostgreSQL, no validation beyond the body's shape).

POST /v1/orders is the same update-with-start, shipments and delivery the same updates;
GET /v1/orders/{id} reads the OrderStatus search attribute (DescribeWorkflowExecution)
where the engine reads its PostgreSQL read model. Listens on BENCH_BASELINE_PORT.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
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


@app.get("/v1/orders/{order_id}")
async def get_order(order_id: str, request: Request) -> dict[str, Any]:
    handle = _client(request).get_workflow_handle(f"order-{order_id}")
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
