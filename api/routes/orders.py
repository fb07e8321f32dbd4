"""Orders: place, read, list, timeline, and the commands that steer the process."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import BaseModel, Field, StrictInt, StringConstraints
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from temporalio.client import (
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
from adapters.tables import idempotency_keys
from api.deps import CurrentUser, OperatorUser, Services, ServicesDep
from api.errors import DOMAIN_STATUS, Problem, problems
from api.pagination import decode_cursor, encode_cursor
from api.ratelimit import OrderRateLimit
from api.schemas import (
    IdempotencyKey,
    Line,
    Lines,
    MoneyIn,
    MoneyOut,
    Page,
    Sku,
    Strict,
    money,
)
from api.security import Principal
from domain.orders import OrderStatus
from domain.text import SINGLE_LINE
from workflows.contracts import (
    AddressInput,
    CancelCommand,
    Command,
    Decision,
    OrderPolicy,
    OrderState,
    PlaceOrderInput,
    RefundCommand,
    ShipCommand,
)
from workflows.names import CUSTOMER_ID, ORDER_STATUS, ORDERS_QUEUE
from workflows.order import OrderWorkflow

router = APIRouter(prefix="/v1/orders", tags=["orders"])

Text = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[Lines, StringConstraints(max_length=500)]

ORDER_ID_PATTERN = r"^ord_[0-9a-f]{20}$"
"""What `place_order` makes: `ord_` and 20 hex digits."""
CUSTOMER_ID_PATTERN = r"^usr_[0-9a-f]{20}$"
"""What the user store makes: `usr_` and 20 hex digits."""
_ORDER_ID = re.compile(ORDER_ID_PATTERN)


async def _order_id(
    order_id: Annotated[
        str,
        Path(
            json_schema_extra={"pattern": ORDER_ID_PATTERN}, examples=["ord_0f9c2a7b4e5d6c1a2b3c"]
        ),
    ],
) -> str:
    """An id that cannot be an order's is the same 404 as an unknown order (and never reaches
    PostgreSQL or Temporal)."""
    if not _ORDER_ID.fullmatch(order_id):
        raise Problem(404, "not-found", "no such order")
    return order_id


OrderId = Annotated[str, Depends(_order_id)]


class LineIn(Strict):
    sku: Sku
    quantity: StrictInt = Field(ge=1, le=100)


class AddressIn(Strict):
    name: Text
    line1: Text
    line2: Annotated[Line, StringConstraints(max_length=200)] | None = None
    city: Text
    postal_code: Annotated[
        Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class PlaceOrderIn(Strict):
    lines: list[LineIn] = Field(min_length=1, max_length=100)
    shipping_address: AddressIn
    payment_method: Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,100}$")]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "lines": [{"sku": "TSHIRT-BLUE-M", "quantity": 2}],
                    "shipping_address": {
                        "name": "Ada Lovelace",
                        "line1": "1 Main St",
                        "city": "London",
                        "postal_code": "N1 1AA",
                        "country": "GB",
                    },
                    "payment_method": "pm_card_visa",
                }
            ]
        }
    }


class LineOut(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: MoneyOut
    total: MoneyOut


class PaymentOut(BaseModel):
    status: str
    authorized: MoneyOut
    captured: MoneyOut
    refunded: MoneyOut
    client_secret: str | None = Field(
        default=None, description="only for the owner, while the status is payment_action_required"
    )


class ShipmentOut(BaseModel):
    carrier: str
    tracking_number: str


class OrderOut(BaseModel):
    id: str
    customer_id: str
    status: str
    lines: list[LineOut]
    total: MoneyOut
    shipping_address: dict[str, str | None]
    payment: PaymentOut
    shipment: ShipmentOut | None
    created_at: datetime
    updated_at: datetime


class EventOut(BaseModel):
    seq: int
    type: str
    at: datetime
    data: dict[str, str | int | None]


class NotificationOut(BaseModel):
    event: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class CancelIn(Strict):
    reason: Reason = "cancelled"

    model_config = {"json_schema_extra": {"examples": [{"reason": "changed my mind"}]}}


class DecisionIn(Strict):
    reason: Reason = ""

    model_config = {"json_schema_extra": {"examples": [{"reason": "address verified"}]}}


OptionalDecision = Annotated[DecisionIn | None, Body()]
"""Approve and reject work without a body, as delivery does."""


class RefundIn(Strict):
    amount: MoneyIn | None = Field(default=None, description="omitted: refund the rest")
    reason: Reason = ""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"amount": {"amount": 1000, "currency": "EUR"}, "reason": "damaged item"},
            ]
        }
    }


class ShipmentIn(Strict):
    carrier: Text
    tracking_number: Annotated[
        Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]

    model_config = {
        "json_schema_extra": {"examples": [{"carrier": "DHL", "tracking_number": "JD014600006281"}]}
    }


def order_out(row: dict[str, Any], viewer: Principal) -> OrderOut:
    currency = row["currency"]
    owner = viewer.user_id == row["customer_id"]
    secret = row["client_secret"] if owner and row["status"] == "payment_action_required" else None
    return OrderOut(
        id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        lines=[
            LineOut(
                sku=line["sku"],
                name=line["name"],
                quantity=line["quantity"],
                unit_price=money(line["unit_price"], currency),
                total=money(line["total"], currency),
            )
            for line in row["lines"]
        ],
        total=money(row["total"], currency),
        shipping_address=row["shipping_address"],
        payment=PaymentOut(
            status=row["payment_status"],
            authorized=money(row["authorized"], currency),
            captured=money(row["captured"], currency),
            refunded=money(row["refunded"], currency),
            client_secret=secret,
        ),
        shipment=ShipmentOut(**row["shipment"]) if row["shipment"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _visible(services: Services, order_id: str, user: Principal) -> dict[str, Any]:
    """The order if the caller may see it; another customer's order is a 404, never a 403."""
    row = await services.orders.get(order_id)
    if row is None or (not user.is_operator and row["customer_id"] != user.user_id):
        raise Problem(404, "not-found", f"no order {order_id}")
    return row


def request_hash(command: str, body: BaseModel | None) -> str:
    """What an Idempotency-Key stands for: the command and its body, as canonical JSON
    (sorted keys, no spaces), hashed. One key sent again with another body, or for another
    command, is `idempotency-key-reused`."""
    request = {"command": command, "body": body.model_dump(mode="json") if body else None}
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _claim_key(
    services: Services, customer_id: str, key: str, body: PlaceOrderIn
) -> tuple[str, bool]:
    """The order id for this Idempotency-Key and whether it was claimed before."""
    digest = request_hash("place", body)
    order_id = f"ord_{uuid.uuid4().hex[:20]}"
    async with services.engine.begin() as conn:
        inserted = await conn.execute(
            insert(idempotency_keys)
            .values(customer_id=customer_id, key=key, request_hash=digest, order_id=order_id)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.order_id)
        )
        if inserted.first() is not None:
            return order_id, False
        existing = (
            await conn.execute(
                select(idempotency_keys.c.request_hash, idempotency_keys.c.order_id).where(
                    idempotency_keys.c.customer_id == customer_id, idempotency_keys.c.key == key
                )
            )
        ).one()
    if existing.request_hash not in (digest, _body_hash(body)):
        raise Problem(
            422,
            "idempotency-key-reused",
            "this Idempotency-Key was used with a different request body",
        )
    return existing.order_id, True


def _body_hash(body: PlaceOrderIn) -> str:
    """How keys were hashed before the command name was part of it (the body alone): such a
    key, stored before an upgrade, still answers its order until it expires
    (`IDEMPOTENCY_KEY_TTL`); after a day this recipe can go."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _policy(services: Services) -> OrderPolicy:
    s = services.settings
    return OrderPolicy(
        review_threshold=s.review_threshold,
        review_timeout=s.review_timeout,
        payment_action_timeout=s.payment_action_timeout,
        fulfillment_timeout=s.fulfillment_timeout,
        delivery_timeout=s.delivery_timeout,
        operator_email=s.operator_email,
    )


_UPDATE_STATUS = {
    **DOMAIN_STATUS,
    "idempotency-key-reused": 422,
    "refund-failed": 502,
    "payment-capture-failed": 502,
}


def _update_problem(error: WorkflowUpdateFailedError) -> Problem:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        skus = list(cause.details[0]) if cause.details else []
        return _refusal(cause.type, cause.message, skus)
    return Problem(409, "conflict", str(cause or error))


def _refusal(slug: str, message: str, skus: list[str]) -> Problem:
    status = _UPDATE_STATUS.get(slug, 409)
    if skus:
        return Problem(status, slug, message, skus=skus)
    return Problem(status, slug, message)


async def _ended_order(services: Services, order_id: str, user: Principal) -> OrderOut:
    """A replayed key whose order process has already ended: its first answer again. A
    rejected order is refused as it was the first time (stock added since changes nothing);
    an accepted one is the order."""
    handle = services.temporal.get_workflow_handle_for(OrderWorkflow.run, f"order-{order_id}")
    try:
        state = await handle.result()
    except WorkflowFailureError:  # terminated or failed: whatever the read model holds
        row = await services.orders.get(order_id)
        if row is None:
            raise Problem(
                409, "conflict", "the order process for this Idempotency-Key ended without an order"
            ) from None
        return order_out(row, user)
    if state.rejection is not None:
        rejection = state.rejection
        raise _refusal(rejection.type, rejection.message, rejection.skus)
    if state.status == "rejected":  # a run by workers from before rejections were kept
        raise Problem(409, "conflict", "the order was not accepted")
    return await _answer(services, state, user)


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    responses={
        200: {"description": "replayed Idempotency-Key: the same order"},
        **problems(
            {
                403: "operators do not place orders",
                409: "out of stock (no order is created); a replayed key answers it again",
                422: "invalid order, unknown sku or Idempotency-Key reused with another body",
                429: "rate-limited",
                503: "Temporal does not answer (with Retry-After)",
            }
        ),
    },
)
async def place_order(
    body: PlaceOrderIn,
    user: CurrentUser,
    services: ServicesDep,
    response: Response,
    _: OrderRateLimit,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    """Start the order process; answers once stock is reserved and the order is accepted."""
    if user.is_operator:
        raise Problem(403, "forbidden", "orders are placed by customers")
    skus = [line.sku for line in body.lines]
    if len(set(skus)) != len(skus):
        raise Problem(422, "invalid-order", "each sku may appear on one line only")
    products = await services.catalogue.get_many(skus)
    unknown = [sku for sku in skus if sku not in products]
    if unknown:
        raise Problem(422, "unknown-product", f"unknown sku: {', '.join(unknown)}", skus=unknown)
    currencies = {product["currency"] for product in products.values()}
    if len(currencies) > 1:
        raise Problem(422, "currency-mismatch", "an order's lines must share one currency")

    replay = False
    if idempotency_key:
        order_id, replay = await _claim_key(services, user.user_id, idempotency_key, body)
    else:
        order_id = f"ord_{uuid.uuid4().hex[:20]}"
    if replay and (row := await services.orders.get(order_id)) is not None:
        response.status_code = 200
        return order_out(row, user)

    start = WithStartWorkflowOperation(
        OrderWorkflow.run,
        PlaceOrderInput(
            order_id=order_id,
            customer_id=user.user_id,
            lines=[LineRequest(sku=line.sku, quantity=line.quantity) for line in body.lines],
            shipping_address=AddressInput(**body.shipping_address.model_dump()),
            payment_method=body.payment_method,
            policy=_policy(services),
        ),
        id=f"order-{order_id}",
        task_queue=ORDERS_QUEUE,
        # a replayed key joins its running process, and never starts a second one once the
        # first has ended (that run could accept what the first refused)
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORDER_STATUS, "accepted"),
                SearchAttributePair(CUSTOMER_ID, user.user_id),
            ]
        ),
        static_summary=f"Order {order_id} for {user.user_id}",
    )
    try:
        state = await services.temporal.execute_update_with_start_workflow(
            OrderWorkflow.accepted, start_workflow_operation=start
        )
    except WorkflowUpdateFailedError as error:
        raise _update_problem(error) from None
    except WorkflowAlreadyStartedError:  # only a replayed key's order id exists already
        response.status_code = 200
        return await _ended_order(services, order_id, user)
    if replay:
        response.status_code = 200
    return await _answer(services, state, user)


@router.get("", response_model=Page[OrderOut])
async def list_orders(
    user: CurrentUser,
    services: ServicesDep,
    status: OrderStatus | None = None,
    customer_id: Annotated[str | None, Query(pattern=CUSTOMER_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512, pattern=SINGLE_LINE)] = None,
) -> Page[OrderOut]:
    """Newest first; customers see their own orders, operators everyone's."""
    secret = services.settings.jwt_secret.get_secret_value().encode()
    after = None
    if cursor:
        position = decode_cursor(secret, cursor)
        try:
            after = (datetime.fromisoformat(position["t"]), str(position["id"]))
        except (KeyError, TypeError, ValueError):
            raise Problem(422, "invalid-cursor", "the cursor is not valid") from None
    owner = customer_id if user.is_operator else user.user_id
    rows = await services.orders.page(
        limit=limit + 1, customer_id=owner, status=status, after=after
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor(secret, {"t": rows[-1]["created_at"].isoformat(), "id": rows[-1]["id"]})
        if more
        else None
    )
    return Page[OrderOut](items=[order_out(row, user) for row in rows], next_cursor=next_cursor)


@router.get("/{order_id}", response_model=OrderOut, responses={404: {"description": "not found"}})
async def get_order(order_id: OrderId, user: CurrentUser, services: ServicesDep) -> OrderOut:
    return order_out(await _visible(services, order_id, user), user)


@router.get("/{order_id}/events", response_model=list[EventOut])
async def order_events(
    order_id: OrderId, user: CurrentUser, services: ServicesDep
) -> list[EventOut]:
    await _visible(services, order_id, user)
    return [
        EventOut.model_validate(e.model_dump()) for e in await services.orders.timeline(order_id)
    ]


@router.get("/{order_id}/notifications", response_model=list[NotificationOut])
async def order_notifications(
    order_id: OrderId, user: CurrentUser, services: ServicesDep
) -> list[NotificationOut]:
    """The order's deliveries. Their errors quote internal hosts, merchant URLs and provider
    answers, and `review_required` goes to the operators: an owner sees neither, only the
    status and attempt count of the messages about the order."""
    await _visible(services, order_id, user)
    rows = await services.notifications.for_order(order_id)
    if user.is_operator:
        return [NotificationOut.model_validate(row) for row in rows]
    return [
        NotificationOut.model_validate({**row, "last_error": None})
        for row in rows
        if row["event"] != "review_required"  # the operators' email (domain ReviewRequired)
    ]


async def _command(
    services: Services,
    order_id: str,
    user: Principal,
    update: Any,
    command: Command,
    *,
    body: BaseModel | None,
    key: str | None,
) -> OrderOut:
    """Run a workflow update and answer with the order as the workflow left it.

    With an Idempotency-Key the update id is derived from the caller, the key and the
    request, so Temporal answers a retried command with its first outcome instead of running
    it again; the same key with another request gets another update id, which the workflow
    refuses (`idempotency-key-reused`)."""
    await _visible(services, order_id, user)
    update_id = None
    if key is not None:
        name = update.__name__
        digest = request_hash(name, body)
        command = command.model_copy(update={"idempotency_key": key, "request_hash": digest})
        caller = "\n".join((user.user_id, key, digest))
        update_id = f"{name}-{hashlib.sha256(caller.encode()).hexdigest()[:32]}"
    handle = services.temporal.get_workflow_handle(f"order-{order_id}")
    try:
        state: OrderState = await handle.execute_update(update, command, id=update_id)
    except WorkflowUpdateFailedError as error:
        raise _update_problem(error) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Problem(409, "invalid-state", "the order process has finished") from None
        raise
    return await _answer(services, state, user)


async def _answer(services: Services, state: OrderState, user: Principal) -> OrderOut:
    """The order as the update left it: the record it wrote to the read model (updates
    answer after the write). During a rolling deploy a worker still on older code answers
    without the record; then the read model is read instead."""
    if state.record is not None:
        return order_out(state.record.model_dump(), user)
    row = await services.orders.get(state.order_id)
    if row is None:  # pragma: no cover - the update answers after the read model is written
        raise Problem(503, "unavailable", "the order is not readable yet")
    return order_out(row, user)


@router.post(
    "/{order_id}/cancel",
    response_model=OrderOut,
    responses={409: {"description": "not cancellable"}},
)
async def cancel_order(
    order_id: OrderId,
    body: CancelIn,
    user: CurrentUser,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    by = "operator" if user.is_operator else "customer"
    command = CancelCommand(reason=body.reason, by=by)
    return await _command(
        services, order_id, user, OrderWorkflow.cancel, command, body=body, key=idempotency_key
    )


@router.post("/{order_id}/approve", response_model=OrderOut)
async def approve_order(
    order_id: OrderId,
    user: OperatorUser,
    services: ServicesDep,
    body: OptionalDecision = None,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    """Confirm an order under review; the body (a reason) is optional."""
    decision = Decision(reason=body.reason) if body else Decision()
    return await _command(
        services, order_id, user, OrderWorkflow.approve, decision, body=body, key=idempotency_key
    )


@router.post("/{order_id}/reject", response_model=OrderOut)
async def reject_order(
    order_id: OrderId,
    user: OperatorUser,
    services: ServicesDep,
    body: OptionalDecision = None,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    """Refuse an order under review; the body (a reason) is optional."""
    decision = Decision(reason=body.reason) if body else Decision()
    return await _command(
        services, order_id, user, OrderWorkflow.reject, decision, body=body, key=idempotency_key
    )


@router.post("/{order_id}/shipments", response_model=OrderOut)
async def ship_order(
    order_id: OrderId,
    body: ShipmentIn,
    user: OperatorUser,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    command = ShipCommand(carrier=body.carrier, tracking_number=body.tracking_number)
    return await _command(
        services, order_id, user, OrderWorkflow.ship, command, body=body, key=idempotency_key
    )


@router.post("/{order_id}/delivery", response_model=OrderOut)
async def deliver_order(
    order_id: OrderId,
    user: OperatorUser,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    return await _command(
        services, order_id, user, OrderWorkflow.deliver, Decision(), body=None, key=idempotency_key
    )


@router.post(
    "/{order_id}/refunds",
    response_model=OrderOut,
    responses={
        409: {"description": "nothing captured yet"},
        422: {"description": "more than the remaining amount"},
    },
)
async def refund_order(
    order_id: OrderId,
    body: RefundIn,
    user: OperatorUser,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    """Refund part or all of the captured amount (operators). A repeated Idempotency-Key
    answers with the order and refunds nothing more."""
    row = await _visible(services, order_id, user)
    if body.amount is not None and body.amount.currency != row["currency"]:
        raise Problem(422, "currency-mismatch", f"the order is in {row['currency']}")
    command = RefundCommand(amount=body.amount.amount if body.amount else None, reason=body.reason)
    return await _command(
        services, order_id, user, OrderWorkflow.refund, command, body=body, key=idempotency_key
    )
