"""Annotated dependencies used directly as parameter types in routes.

They are `async def` although they never await: FastAPI runs a plain `def` dependency in
its thread pool, three thread hand-offs per request for what is a few microseconds of work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import jwt
from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer
from temporalio.client import Client

from adapters.catalogue import Catalogue
from adapters.idempotency_store import IdempotencyStore
from adapters.notification_store import NotificationStore
from adapters.operations_store import OperationsStore
from adapters.order_export import OrderExport
from adapters.order_store import OrderStore
from adapters.reconciliation_store import ReconciliationStore
from adapters.settings import Settings
from adapters.status_waits import StatusWaits
from adapters.stripe_events import StripeEventStore
from adapters.user_store import UserStore
from adapters.webhook_endpoints import EndpointStore
from api.errors import Problem
from api.order_client import OrderClient
from api.security import Principal, decode_token

if TYPE_CHECKING:
    from api.ratelimit import RateLimits


@dataclass
class Services:
    """What the API's composition root built once at startup: every store and client a
    route uses (routes never build one, nor reach the database themselves)."""

    settings: Settings
    temporal: Client
    users: UserStore
    catalogue: Catalogue
    orders: OrderStore
    status_waits: StatusWaits
    order_export: OrderExport
    order_client: OrderClient
    idempotency_keys: IdempotencyStore
    notifications: NotificationStore
    stripe_events: StripeEventStore
    reconciliation: ReconciliationStore
    operations: OperationsStore
    webhook_endpoints: EndpointStore
    limits: RateLimits


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]

_bearer = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token",
    auto_error=False,
    scopes={"operator": "operator-only endpoints: needs an operator account's token"},
    description="A JWT from POST /v1/auth/token, sent as `Authorization: Bearer <token>`",
)
"""The OAuth2 password flow, so the Authorize button of /docs logs in with email and password."""


async def _principal(
    services: ServicesDep, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    if not token:
        raise Problem(401, "unauthorized", "a bearer token is required")
    try:
        return decode_token(services.settings, token)
    except jwt.InvalidTokenError as error:
        raise Problem(
            401,
            "unauthorized",
            f"invalid token: {error}",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None


CurrentUser = Annotated[Principal, Depends(_principal)]


async def _operator(user: CurrentUser) -> Principal:
    if not user.is_operator:
        raise Problem(403, "forbidden", "this endpoint is for operators")
    return user


OperatorUser = Annotated[Principal, Security(_operator, scopes=["operator"])]
"""Documented as the `operator` scope, so the OpenAPI document shows which routes need it."""
