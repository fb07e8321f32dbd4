"""Orders: place, read, list, timeline and notifications (the commands that steer an order are
`order_commands.py`).

The routes decide who may ask and how the answer looks; the order client (`api/order_client.py`)
drives the workflows, and refusals are domain errors that `api/errors.py` answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import CurrentUser, Services, ServicesDep
from api.errors import Problem, problems
from api.order_client import new_order_id, request_hash
from api.order_schemas import CUSTOMER_ID_PATTERN, OrderId, PlaceOrderIn
from api.order_views import EventOut, NotificationOut, OrderOut, order_out
from api.order_wait import MAX_WAIT, ClientGone, until_status
from api.pagination import decode_cursor, encode_cursor
from api.ratelimit import OrderRateLimit
from api.routes.order_export import Statuses
from api.schemas import IdempotencyKey, Page
from api.security import Principal
from domain.errors import CurrencyMismatch, InvalidOrder, UnknownProduct
from domain.orders import OrderStatus
from domain.text import SINGLE_LINE

router = APIRouter(prefix="/v1/orders", tags=["orders"])


async def visible_order(services: Services, order_id: str, user: Principal) -> dict[str, Any]:
    """The order if the caller may see it; another customer's order is a 404, never a 403."""
    row = await services.orders.get(order_id)
    if row is None or (not user.is_operator and row["customer_id"] != user.user_id):
        raise Problem(404, "not-found", f"no order {order_id}")
    return row


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
        raise InvalidOrder("each sku may appear on one line only")
    products = await services.catalogue.get_many(skus)
    unknown = [sku for sku in skus if sku not in products]
    if unknown:
        raise UnknownProduct(skus=unknown)
    if len({product["currency"] for product in products.values()}) > 1:
        raise CurrencyMismatch("an order's lines must share one currency")

    order_id, replay = new_order_id(), False
    if idempotency_key:
        digest = request_hash("place", body)
        order_id, replay = await services.idempotency_keys.claim(
            user.user_id, idempotency_key, digest, order_id
        )
    if replay and (row := await services.orders.get(order_id)) is not None:
        response.status_code = 200
        return order_out(row, user)
    row, ended = await services.order_client.place(order_id, user.user_id, body)
    if replay or ended:
        response.status_code = 200
    return order_out(row, user)


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


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    responses={
        200: {
            "description": "the order; with `wait_for`, the header `X-Wait` says `reached` "
            "or `timeout`",
            "headers": {"X-Wait": {"schema": {"enum": ["reached", "timeout"]}}},
        },
        **problems({404: "not found", 422: "unknown status in wait_for, or a bad timeout"}),
    },
)
async def get_order(
    order_id: OrderId,
    user: CurrentUser,
    services: ServicesDep,
    request: Request,
    response: Response,
    wait_for: Annotated[
        Statuses,
        Query(
            description="answer once the order is in one of these statuses (comma-separated "
            "or repeated), or at the timeout; at once if it already is"
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults per request
    wait_seconds: Annotated[
        float,
        Query(
            alias="timeout",
            ge=0,
            le=MAX_WAIT,
            allow_inf_nan=False,
            description="seconds to wait at most, with wait_for",
        ),
    ] = 10.0,
) -> OrderOut | Response:
    """The order; with `wait_for`, a long poll: no need to read it again and again."""
    if not wait_for:
        return order_out(await visible_order(services, order_id, user), user)
    with services.status_waits.watch(order_id, frozenset(wait_for)) as wait:
        try:
            row, reached = await until_status(
                lambda: visible_order(services, order_id, user), wait, wait_seconds, request
            )
        except ClientGone:
            return Response(status_code=499)  # nobody reads it; the access log shows why
    response.headers["X-Wait"] = "reached" if reached else "timeout"
    return order_out(row, user)


@router.get("/{order_id}/events", response_model=list[EventOut])
async def order_events(
    order_id: OrderId, user: CurrentUser, services: ServicesDep
) -> list[EventOut]:
    await visible_order(services, order_id, user)
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
    await visible_order(services, order_id, user)
    rows = await services.notifications.for_order(order_id)
    if user.is_operator:
        return [NotificationOut.model_validate(row) for row in rows]
    return [
        NotificationOut.model_validate({**row, "last_error": None})
        for row in rows
        if row["event"] != "review_required"  # the operators' email (domain ReviewRequired)
    ]
