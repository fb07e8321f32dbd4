"""The commands that steer an order's process: cancel, approve, reject, ship, deliver, edit,
refund (returns are `order_returns.py`).

Each runs as an update of the order's workflow (`api/order_client.py`) carrying who sent it
(the timeline's actor), and answers with the order as the workflow left it; a refusal is the
domain error `api/errors.py` answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from activities.orders import LineRequest
from api.deps import CurrentUser, OperatorUser, Services, ServicesDep
from api.errors import problems
from api.order_schemas import (
    CancelIn,
    EditIn,
    EditLineIn,
    LineIn,
    OptionalDecision,
    OrderId,
    RefundIn,
    ShipmentId,
    ShipmentIn,
)
from api.order_views import OrderOut, order_out
from api.routes.orders import visible_order
from api.schemas import IdempotencyKey
from api.security import Principal
from domain.errors import CurrencyMismatch
from workflows.contracts import (
    ActorInput,
    CancelCommand,
    Command,
    Decision,
    DeliverCommand,
    EditCommand,
    RefundCommand,
    ShipCommand,
)
from workflows.order import OrderWorkflow

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@dataclass
class Commanded:
    """The order a command names, who sends it, and the `Idempotency-Key` it carries."""

    services: Services
    order_id: str
    user: Principal
    key: str | None

    @property
    def actor(self) -> ActorInput:
        """Who sends the command, as the order's timeline names them."""
        return ActorInput(
            type="operator" if self.user.is_operator else "customer", id=self.user.user_id
        )

    async def order(self) -> dict[str, Any]:
        """The order, if the caller may see it (`visible_order`)."""
        return await visible_order(self.services, self.order_id, self.user)

    async def send(self, update: Any, command: Command, body: BaseModel | None) -> dict[str, Any]:
        """Run the command, sent by the caller, on an order the caller may see; the order's
        record as the workflow left it. `body` is the request the key stands for."""
        await self.order()
        return await self.services.order_client.command(
            self.order_id,
            update,
            command.model_copy(update={"actor": self.actor}),
            caller=self.user.user_id,
            key=self.key,
            body=body,
        )

    async def run(self, update: Any, command: Command, body: BaseModel | None) -> OrderOut:
        """`send`, answered with the order as the caller sees it."""
        return order_out(await self.send(update, command, body), self.user)


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


def lines(given: Sequence[LineIn | EditLineIn]) -> list[LineRequest]:
    """A request's lines as the workflow takes them."""
    return [LineRequest(sku=line.sku, quantity=line.quantity) for line in given]


@router.post(
    "/{order_id}/cancel",
    response_model=OrderOut,
    responses={409: {"description": "not cancellable"}},
)
async def cancel_order(body: CancelIn, order: ByOwnerOrOperator) -> OrderOut:
    command = CancelCommand(reason=body.reason, by=order.actor.type)
    return await order.run(OrderWorkflow.cancel, command, body)


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


@router.post(
    "/{order_id}/shipments",
    response_model=OrderOut,
    responses=problems(
        {
            409: "the order is not confirmed or partially shipped",
            422: "more units than are left to ship, or a sku not on the order",
        }
    ),
)
async def ship_order(body: ShipmentIn, order: ByOperator) -> OrderOut:
    """Ship some units (`lines`), or every unit not shipped yet; the first shipment captures
    the payment, and the order is `partially_shipped` until every unit has left."""
    command = ShipCommand(
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        lines=lines(body.lines) if body.lines is not None else None,
    )
    return await order.run(OrderWorkflow.ship, command, body)


@router.post(
    "/{order_id}/delivery",
    response_model=OrderOut,
    responses=problems({409: "units are not shipped yet, or nothing was shipped"}),
)
async def deliver_order(order: ByOperator, body: OptionalDecision = None) -> OrderOut:
    """Every shipment delivered: the order is `delivered`. The body (a reason) is optional."""
    command = DeliverCommand(reason=body.reason) if body else DeliverCommand()
    return await order.run(OrderWorkflow.deliver, command, body)


@router.post(
    "/{order_id}/shipments/{shipment_id}/delivery",
    response_model=OrderOut,
    responses=problems({404: "no such shipment", 409: "the order takes no delivery now"}),
)
async def deliver_shipment(
    shipment_id: ShipmentId, order: ByOperator, body: OptionalDecision = None
) -> OrderOut:
    """One shipment delivered; the order is `delivered` once every unit is."""
    reason = body.reason if body else ""
    command = DeliverCommand(reason=reason, shipment_id=shipment_id)
    return await order.run(OrderWorkflow.deliver, command, body)


@router.post(
    "/{order_id}/edits",
    response_model=OrderOut,
    responses=problems(
        {
            409: "the order cannot be edited now (a customer's, once a shipment has left)",
            422: "a quantity raised, a sku not on the order, or nothing left to ship",
        }
    ),
)
async def edit_order(body: EditIn, order: ByOwnerOrOperator) -> OrderOut:
    """Lower quantities of units not shipped yet (0 removes the line); lines not named stay
    as they are. The owner may edit until the first shipment, an operator after it too."""
    return await order.run(OrderWorkflow.edit, EditCommand(lines=lines(body.lines)), body)


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
