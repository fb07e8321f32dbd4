"""`GET /v1/orders/{id}/history`: the order's recorded Temporal histories, for operators
(docs/runbook.md, "Before a deploy": `make replay FILE=...` replays the answer).

Payloads are as Temporal stores them: encrypted when `PAYLOAD_ENCRYPTION_KEY` is set (a
history read never runs the codec, adapters/order_history.py), so the export carries no
readable customer data and needs the workers' keys to replay."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.order_history import OrderHistoryJson, export, order_runs
from api.deps import OperatorUser, ServicesDep
from api.errors import Problem, problems
from api.order_schemas import OrderId

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.get(
    "/{order_id}/history",
    response_model=OrderHistoryJson,
    responses=problems(
        {
            403: "customers may not read histories",
            404: "no such order, or its history is past the namespace's retention",
            503: "Temporal does not answer (with Retry-After)",
        }
    ),
)
async def order_history(
    order_id: OrderId, _: OperatorUser, services: ServicesDep
) -> OrderHistoryJson:
    """The order's workflow, its payment and its notifications, each with its whole history
    in Temporal's JSON history format."""
    runs = await order_runs(services.temporal, order_id)
    if runs is None:
        raise Problem(404, "not-found", f"Temporal has no history of order {order_id}")
    return export(order_id, runs)
