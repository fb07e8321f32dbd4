"""Merchant webhook endpoints, for operators: create, list, read, change, delete and rotate
the secret; the delivery log of each and redelivery.

A URL is checked when it is saved, its host resolved: only https (or loopback http when
`WEBHOOK_ALLOW_LOOPBACK_HTTP` is on) to public addresses (`adapters/webhook_urls.py`); each
delivery checks again, since what a name resolves to may change."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from adapters.webhook_endpoints import Position, new_secret
from adapters.webhook_urls import UnsafeUrl, resolve_target
from api.deps import OperatorUser, Services, ServicesDep
from api.errors import Problem, problems
from api.pagination import decode_cursor, encode_cursor
from api.schemas import Page
from api.webhook_schemas import (
    DeliveryId,
    DeliveryOut,
    DeliveryStatus,
    EndpointId,
    EndpointIn,
    EndpointOut,
    EndpointPatchIn,
    EndpointWithSecretOut,
    delivery_out,
    endpoint_out,
    known_events,
    with_secret,
)
from domain.text import SINGLE_LINE
from workflows.names import NOTIFICATIONS_QUEUE
from workflows.webhook_contracts import (
    WEBHOOK_DELIVERY_WORKFLOW,
    WebhookDelivery,
    webhook_delivery_workflow_id,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"])

RESOLVE_SECONDS = 3.0
"""How long a URL's host may take to resolve when it is saved."""

_URL_PROBLEMS = (
    "invalid-url (malformed, unresolvable) or unsafe-url (not https, or an address that is "
    "not public)"
)
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512, pattern=SINGLE_LINE)]


async def _endpoint(services: Services, endpoint_id: str) -> dict[str, Any]:
    row = await services.webhook_endpoints.get(endpoint_id)
    if row is None:
        raise Problem(404, "not-found", f"no webhook endpoint {endpoint_id}")
    return row


async def _safe_url(services: Services, url: str) -> str:
    """The URL if deliveries may go there; a 422 naming the reason otherwise."""
    allow_loopback = services.settings.webhook_allow_loopback_http
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            await resolve_target(url, allow_loopback_http=allow_loopback)
    except TimeoutError:
        raise _url_problem(
            "unresolvable", f"the host did not resolve within {RESOLVE_SECONDS:g} s"
        ) from None
    except UnsafeUrl as error:
        raise _url_problem(error.reason, str(error)) from None
    return url


def _url_problem(reason: str, detail: str) -> Problem:
    """`unsafe-url` when the URL leads somewhere deliveries may not go, `invalid-url` when
    it does not lead anywhere; `reason` says which rule refused it."""
    slug = "unsafe-url" if reason.endswith("-address") or reason == "scheme" else "invalid-url"
    error = {"loc": ["body", "url"], "msg": detail, "type": reason}
    return Problem(422, slug, detail, reason=reason, errors=[error])


def _position(services: Services, cursor: str | None) -> Position | None:
    if not cursor:
        return None
    position = decode_cursor(_cursor_key(services), cursor)
    try:
        return datetime.fromisoformat(position["t"]), str(position["id"])
    except (KeyError, TypeError, ValueError):
        raise Problem(422, "invalid-cursor", "the cursor is not valid") from None


def _next_cursor(services: Services, rows: list[dict[str, Any]], more: bool) -> str | None:
    if not more:
        return None
    last = rows[-1]
    return encode_cursor(
        _cursor_key(services), {"t": last["created_at"].isoformat(), "id": last["id"]}
    )


def _cursor_key(services: Services) -> bytes:
    return services.settings.jwt_secret.get_secret_value().encode()


@router.post(
    "",
    status_code=201,
    response_model=EndpointWithSecretOut,
    responses=problems({422: f"{_URL_PROBLEMS}, or unknown-event"}),
)
async def create_endpoint(
    body: EndpointIn, services: ServicesDep, _: OperatorUser
) -> EndpointWithSecretOut:
    """Every event named (or all, `["*"]`) is POSTed to the URL, signed with the secret in
    this answer: it is shown now and on rotation only."""
    events = known_events(body.events)
    url = await _safe_url(services, body.url)
    row = await services.webhook_endpoints.create(
        url=url, events=events, description=body.description, secret=new_secret()
    )
    return with_secret(row)


@router.get("", response_model=Page[EndpointOut], responses=problems({422: "invalid-cursor"}))
async def list_endpoints(
    services: ServicesDep, _: OperatorUser, limit: Limit = 20, cursor: Cursor = None
) -> Page[EndpointOut]:
    """Newest first."""
    rows = await services.webhook_endpoints.page(limit=limit + 1, after=_position(services, cursor))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[EndpointOut](
        items=[endpoint_out(row) for row in rows], next_cursor=_next_cursor(services, rows, more)
    )


@router.get(
    "/{endpoint_id}", response_model=EndpointOut, responses=problems({404: "no such endpoint"})
)
async def get_endpoint(
    endpoint_id: EndpointId, services: ServicesDep, _: OperatorUser
) -> EndpointOut:
    return endpoint_out(await _endpoint(services, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses=problems({404: "no such endpoint", 422: f"{_URL_PROBLEMS}, or unknown-event"}),
)
async def update_endpoint(
    endpoint_id: EndpointId, body: EndpointPatchIn, services: ServicesDep, _: OperatorUser
) -> EndpointOut:
    """Change the URL, events, description, or whether it is enabled; enabling a disabled
    endpoint starts its three days of failures again."""
    changes: dict[str, Any] = {}
    if body.events is not None:
        changes["events"] = known_events(body.events)
    if body.url is not None:
        changes["url"] = await _safe_url(services, body.url)
    if body.description is not None:
        changes["description"] = body.description
    if body.enabled is not None:
        changes["enabled"] = body.enabled
    store = services.webhook_endpoints
    row = await store.update(endpoint_id, **changes) if changes else await store.get(endpoint_id)
    if row is None:
        raise Problem(404, "not-found", f"no webhook endpoint {endpoint_id}")
    return endpoint_out(row)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    response_class=Response,
    responses=problems({404: "no such endpoint"}),
)
async def delete_endpoint(
    endpoint_id: EndpointId, services: ServicesDep, _: OperatorUser
) -> Response:
    """Delete the endpoint and its delivery log; its pending deliveries stop."""
    if not await services.webhook_endpoints.delete(endpoint_id):
        raise Problem(404, "not-found", f"no webhook endpoint {endpoint_id}")
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecretOut,
    responses=problems({404: "no such endpoint"}),
)
async def rotate_secret(
    endpoint_id: EndpointId, services: ServicesDep, _: OperatorUser
) -> EndpointWithSecretOut:
    """A new secret, shown in this answer only; for 24 hours deliveries carry a signature
    with each (two `v1=` in `X-Signature`), so receivers can switch without a gap."""
    row = await services.webhook_endpoints.rotate(endpoint_id, new_secret())
    if row is None:
        raise Problem(404, "not-found", f"no webhook endpoint {endpoint_id}")
    return with_secret(row)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=problems({404: "no such endpoint", 422: "invalid-cursor"}),
)
async def list_deliveries(
    endpoint_id: EndpointId,
    services: ServicesDep,
    _: OperatorUser,
    status: DeliveryStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """The endpoint's deliveries, newest first, each with every attempt. An attempt whose
    error is `no answer recorded yet` is running, or died without an answer (its worker
    stopped); the next attempt follows once its claim has run out."""
    await _endpoint(services, endpoint_id)
    rows = await services.webhook_endpoints.deliveries(
        endpoint_id, status=status, limit=limit + 1, after=_position(services, cursor)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[DeliveryOut](
        items=[delivery_out(row) for row in rows], next_cursor=_next_cursor(services, rows, more)
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=problems(
        {
            404: "no such endpoint, or no such delivery of it",
            409: "endpoint-disabled: enable it first",
            503: "Temporal does not answer (with Retry-After); redeliver again",
        }
    ),
)
async def redeliver(
    endpoint_id: EndpointId, delivery_id: DeliveryId, services: ServicesDep, _: OperatorUser
) -> DeliveryOut:
    """Deliver the event again, with the same event id and body, in a new series of
    attempts (retried for a day as the first), whatever became of the first."""
    endpoint = await _endpoint(services, endpoint_id)
    if not endpoint["enabled"]:
        raise Problem(409, "endpoint-disabled", f"webhook endpoint {endpoint_id} is disabled")
    restarted = await services.webhook_endpoints.redeliver(endpoint_id, delivery_id)
    if restarted is None:
        raise Problem(404, "not-found", f"no delivery {delivery_id} of {endpoint_id}")
    row, series, previous = restarted
    try:
        await services.temporal.start_workflow(
            WEBHOOK_DELIVERY_WORKFLOW,
            WebhookDelivery(delivery_id=delivery_id, series=series),
            id=webhook_delivery_workflow_id(delivery_id, series),
            task_queue=NOTIFICATIONS_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # this series runs already: nothing more to start
    except BaseException:  # not started (Temporal down: a 503): nothing runs this series
        await asyncio.shield(services.webhook_endpoints.restore(delivery_id, series, previous))
        raise
    return delivery_out(row)
