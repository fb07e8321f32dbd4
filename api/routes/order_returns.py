"""Returns (RMAs): a customer or an operator asks to return delivered units within the
return window, an operator receives the parcel (restocking and refunding its units) or
rejects it. Each runs as an update of the order's workflow, as the other commands do
(`order_commands.py`), and answers with the return."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, ServicesDep
from api.errors import problems
from api.order_schemas import OptionalReceipt, OrderId, RejectReturnIn, ReturnId, ReturnIn
from api.order_views import ReturnOut, ReturnsOut, find_return, return_out
from api.routes.order_commands import ByOperator, ByOwnerOrOperator, lines
from api.routes.orders import visible_order
from workflows.contracts import OpenReturnCommand, ReceiveReturnCommand, RejectReturnCommand
from workflows.order import OrderWorkflow

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.post(
    "/{order_id}/returns",
    status_code=201,
    response_model=ReturnOut,
    responses=problems(
        {
            409: "the order is not delivered, or its return window has closed",
            422: "more units than can be returned, or a sku not on the order",
        }
    ),
)
async def open_return(body: ReturnIn, order: ByOwnerOrOperator) -> ReturnOut:
    """Ask to return delivered units (the owner or an operator); the return is `requested`
    until an operator receives or rejects it, and expires if its parcel never arrives."""
    command = OpenReturnCommand(lines=lines(body.lines), reason=body.reason)
    return find_return(await order.send(OrderWorkflow.open_return, command, body))


@router.get("/{order_id}/returns", response_model=ReturnsOut)
async def list_returns(order_id: OrderId, user: CurrentUser, services: ServicesDep) -> ReturnsOut:
    """The order's returns, oldest first."""
    row = await visible_order(services, order_id, user)
    return ReturnsOut(items=[return_out(r, row["currency"]) for r in row["returns"]])


@router.post(
    "/{order_id}/returns/{return_id}/receive",
    response_model=ReturnOut,
    responses=problems({404: "no such return", 409: "the return is not requested"}),
)
async def receive_return(
    return_id: ReturnId, order: ByOperator, body: OptionalReceipt = None
) -> ReturnOut:
    """The parcel arrived: its units are restocked (unless `restock` is false) and their
    amount refunded."""
    restock = body.restock if body else True
    command = ReceiveReturnCommand(return_id=return_id, restock=restock)
    return find_return(await order.send(OrderWorkflow.receive_return, command, body), return_id)


@router.post(
    "/{order_id}/returns/{return_id}/reject",
    response_model=ReturnOut,
    responses=problems({404: "no such return", 409: "the return is not requested"}),
)
async def reject_return(return_id: ReturnId, body: RejectReturnIn, order: ByOperator) -> ReturnOut:
    """Refuse a requested return (nothing is refunded)."""
    command = RejectReturnCommand(return_id=return_id, reason=body.reason)
    return find_return(await order.send(OrderWorkflow.reject_return, command, body), return_id)
