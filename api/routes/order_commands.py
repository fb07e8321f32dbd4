"""The commands that steer an order's process: cancel, approve, reject, ship, deliver, refund.

Each runs as an update of the order's workflow (`api/order_client.py`) and answers with the
order as the workflow left it; a refusal is the domain error `api/errors.py` answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.deps import CurrentUser, OperatorUser, Services, ServicesDep
from api.order_schemas import (
    CancelIn,
    OptionalDecision,
    OrderId,
    OrderOut,
    RefundIn,
    ShipmentIn,
    order_out,
)
from api.routes.orders import visible_order
from api.schemas import IdempotencyKey
from api.security import Principal
from domain.errors import CurrencyMismatch
from workflows.contracts import CancelCommand, Command, Decision, RefundCommand, ShipCommand
from workflows.order import OrderWorkflow

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@dataclass
class Commanded:
    """The order a command names, who sends it, and the `Idempotency-Key` it carries."""

    services: Services
    order_id: str
    user: Principal
    key: str | None

    async def order(self) -> dict[str, Any]:
        """The order, if the caller may see it (`visible_order`)."""
        return await visible_order(self.services, self.order_id, self.user)

    async def run(self, update: Any, command: Command, body: BaseModel | None) -> OrderOut:
        """Run the command on an order the caller may see; the order as the workflow left
        it. `body` is the request the key stands for."""
        await self.order()
        row = await self.services.order_client.command(
            self.order_id, update, command, caller=self.user.user_id, key=self.key, body=body
        )
        return order_out(row, self.user)


async def _by_anyone(
    order_id: OrderId,
    user: CurrentUser,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> Commanded:
    return Commanded(services, order_id, user, idempotency_key)


ByOwnerOrOperator = Annotated[Commanded, Depends(_by_anyone)]
"""A command its owner or an operator may send (another customer's order is a 404)."""


async def _by_operator(order: ByOwnerOrOperator, _: OperatorUser) -> Commanded:
    return order


ByOperator = Annotated[Commanded, Depends(_by_operator)]
"""A command for operators only (the `operator` scope)."""


@router.post(
    "/{order_id}/cancel",
    response_model=OrderOut,
    responses={409: {"description": "not cancellable"}},
)
async def cancel_order(body: CancelIn, order: ByOwnerOrOperator) -> OrderOut:
    by = "operator" if order.user.is_operator else "customer"
    return await order.run(OrderWorkflow.cancel, CancelCommand(reason=body.reason, by=by), body)


@router.post("/{order_id}/approve", response_model=OrderOut)
async def approve_order(order: ByOperator, body: OptionalDecision = None) -> OrderOut:
    """Confirm an order under review; the body (a reason) is optional."""
    decision = Decision(reason=body.reason) if body else Decision()
    return await order.run(OrderWorkflow.approve, decision, body)


@router.post("/{order_id}/reject", response_model=OrderOut)
async def reject_order(order: ByOperator, body: OptionalDecision = None) -> OrderOut:
    """Refuse an order under review; the body (a reason) is optional."""
    decision = Decision(reason=body.reason) if body else Decision()
    return await order.run(OrderWorkflow.reject, decision, body)


@router.post("/{order_id}/shipments", response_model=OrderOut)
async def ship_order(body: ShipmentIn, order: ByOperator) -> OrderOut:
    command = ShipCommand(carrier=body.carrier, tracking_number=body.tracking_number)
    return await order.run(OrderWorkflow.ship, command, body)


@router.post("/{order_id}/delivery", response_model=OrderOut)
async def deliver_order(order: ByOperator) -> OrderOut:
    return await order.run(OrderWorkflow.deliver, Decision(), None)


@router.post(
    "/{order_id}/refunds",
    response_model=OrderOut,
    responses={
        409: {"description": "nothing captured yet"},
        422: {"description": "more than the remaining amount"},
    },
)
async def refund_order(body: RefundIn, order: ByOperator) -> OrderOut:
    """Refund part or all of the captured amount (operators). A repeated Idempotency-Key
    answers with the order and refunds nothing more."""
    row = await order.order()
    if body.amount is not None and body.amount.currency != row["currency"]:
        raise CurrencyMismatch(f"the order is in {row['currency']}")
    command = RefundCommand(amount=body.amount.amount if body.amount else None, reason=body.reason)
    return await order.run(OrderWorkflow.refund, command, body)
