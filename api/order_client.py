"""The order workflows as the API drives them: their ids, placing an order (update-with-start),
running a command as an update, reading an ended order's outcome, and turning a workflow's
refusal back into the domain error it is (`api/errors.py` answers it).

Every call answers with the order's read-model record as the workflow left it; the routes
only decide who may ask and how the answer looks."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.orders import LineRequest
from adapters.order_store import OrderStore
from adapters.settings import Settings
from api.errors import Problem
from api.order_schemas import PlaceOrderIn
from domain.errors import DomainError, InvalidTransition
from domain.orders import OrderStatus
from workflows.contracts import AddressInput, Command, OrderPolicy, OrderState, PlaceOrderInput
from workflows.names import CUSTOMER_ID, ORDER_STATUS, ORDERS_QUEUE, order_workflow_id
from workflows.order import OrderWorkflow

Record = dict[str, Any]
"""An order as the read model holds it (`OrderStore.get`)."""


def new_order_id() -> str:
    """`ord_` and 20 hex digits (`api/order_schemas.py` ORDER_ID_PATTERN)."""
    return f"ord_{uuid.uuid4().hex[:20]}"


def order_policy(settings: Settings) -> OrderPolicy:
    """The thresholds and timeouts an order runs with, fixed in its history when it starts."""
    return OrderPolicy(
        review_threshold=settings.review_threshold,
        review_timeout=settings.review_timeout,
        payment_action_timeout=settings.payment_action_timeout,
        fulfillment_timeout=settings.fulfillment_timeout,
        delivery_timeout=settings.delivery_timeout,
        operator_email=settings.operator_email,
        refund_window=settings.return_window,
        return_receive_timeout=settings.return_receive_timeout,
    )


def request_hash(command: str, body: BaseModel | None) -> str:
    """What an Idempotency-Key stands for: the command and its body, as canonical JSON
    (sorted keys, no spaces), hashed. One key sent again with another body, or for another
    command, is `idempotency-key-reused`."""
    request = {"command": command, "body": body.model_dump(mode="json") if body else None}
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def refusal(code: str, message: str, skus: list[str]) -> Exception:
    """A workflow's refusal (its `ApplicationError` type, message and skus) as the API raises
    it: the domain class `code` names, carrying the workflow's own message; a type that is
    not a domain code is a 409 under its own slug."""
    cls = DomainError.from_code(code)
    if cls is None:
        return Problem(409, code, message, skus=skus) if skus else Problem(409, code, message)
    return cls(message, skus)


def _update_refusal(error: WorkflowUpdateFailedError) -> Exception:
    """What an update's failure answers: its refusal, or a 409 when it names none."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        skus = list(cause.details[0]) if cause.details else []
        return refusal(cause.type, cause.message, skus)
    return Problem(409, "conflict", str(cause or error))


class OrderClient:
    """Starts order workflows and runs their commands through Temporal."""

    def __init__(self, temporal: Client, orders: OrderStore, settings: Settings) -> None:
        self._temporal = temporal
        self._orders = orders
        self._policy = order_policy(settings)

    async def place(
        self, order_id: str, customer_id: str, body: PlaceOrderIn
    ) -> tuple[Record, bool]:
        """Start the order's process and wait until it accepts the order (stock reserved);
        the order, and whether its process had ended before (a replayed key's)."""
        start = WithStartWorkflowOperation(
            OrderWorkflow.run,
            PlaceOrderInput(
                order_id=order_id,
                customer_id=customer_id,
                lines=[LineRequest(sku=line.sku, quantity=line.quantity) for line in body.lines],
                shipping_address=AddressInput(**body.shipping_address.model_dump()),
                payment_method=body.payment_method,
                policy=self._policy,
            ),
            id=order_workflow_id(order_id),
            task_queue=ORDERS_QUEUE,
            # a replayed key joins its running process, and never starts a second one once
            # the first has ended (that run could accept what the first refused)
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ORDER_STATUS, OrderStatus.ACCEPTED.value),
                    SearchAttributePair(CUSTOMER_ID, customer_id),
                ]
            ),
            static_summary=f"Order {order_id} for {customer_id}",
        )
        try:
            state = await self._temporal.execute_update_with_start_workflow(
                OrderWorkflow.accepted, start_workflow_operation=start
            )
        except WorkflowUpdateFailedError as error:
            raise _update_refusal(error) from None
        except WorkflowAlreadyStartedError:  # only a replayed key's order id exists already
            return await self._ended(order_id), True
        return await self._record(state), False

    async def _ended(self, order_id: str) -> Record:
        """A replayed key whose order process has already ended: its first answer again. A
        rejected order is refused as it was the first time (stock added since changes
        nothing); an accepted one is the order."""
        handle = self._temporal.get_workflow_handle_for(
            OrderWorkflow.run, order_workflow_id(order_id)
        )
        try:
            state = await handle.result()
        except WorkflowFailureError:  # terminated or failed: whatever the read model holds
            row = await self._orders.get(order_id)
            if row is None:
                raise Problem(
                    409,
                    "conflict",
                    "the order process for this Idempotency-Key ended without an order",
                ) from None
            return row
        if state.rejection is not None:
            rejection = state.rejection
            raise refusal(rejection.type, rejection.message, rejection.skus)
        if state.status == "rejected":  # a run by workers from before rejections were kept
            raise Problem(409, "conflict", "the order was not accepted")
        return await self._record(state)

    async def command(
        self,
        order_id: str,
        update: Any,
        command: Command,
        *,
        caller: str,
        key: str | None,
        body: BaseModel | None,
    ) -> Record:
        """Run a workflow update (`OrderWorkflow.cancel`, ...) and answer the order as the
        workflow left it.

        With an Idempotency-Key the update id is derived from the caller, the key and the
        request, so Temporal answers a retried command with its first outcome instead of
        running it again; the same key with another request gets another update id, which
        the workflow refuses (`idempotency-key-reused`)."""
        update_id = None
        if key is not None:
            name = update.__name__
            digest = request_hash(name, body)
            command = command.model_copy(update={"idempotency_key": key, "request_hash": digest})
            request = "\n".join((caller, key, digest))
            update_id = f"{name}-{hashlib.sha256(request.encode()).hexdigest()[:32]}"
        handle = self._temporal.get_workflow_handle(order_workflow_id(order_id))
        try:
            state: OrderState = await handle.execute_update(update, command, id=update_id)
        except WorkflowUpdateFailedError as error:
            raise _update_refusal(error) from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise InvalidTransition("the order process has finished") from None
            raise
        return await self._record(state)

    async def _record(self, state: OrderState) -> Record:
        """The record the update wrote to the read model (updates answer after the write).
        During a rolling deploy a worker still on older code answers without the record;
        then the read model is read instead."""
        if state.record is not None:
            return state.record.model_dump()
        row = await self._orders.get(state.order_id)
        if row is None:  # pragma: no cover - the update answers after the read model is written
            raise Problem(503, "unavailable", "the order is not readable yet")
        return row
