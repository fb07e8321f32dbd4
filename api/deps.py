"""Annotated dependencies used directly as parameter types in routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from adapters.catalogue import Catalogue
from adapters.notification_store import NotificationStore
from adapters.order_store import OrderStore
from adapters.settings import Settings
from adapters.user_store import UserStore
from api.errors import Problem
from api.security import Principal, decode_token


@dataclass
class Services:
    """What the API's composition root built once at startup."""

    settings: Settings
    engine: AsyncEngine
    temporal: Client
    users: UserStore
    catalogue: Catalogue
    orders: OrderStore
    notifications: NotificationStore


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]

_bearer = HTTPBearer(auto_error=False, description="A JWT from POST /v1/auth/token")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail)


def _principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    try:
        return decode_token(services.settings, credentials.credentials)
    except jwt.InvalidTokenError as error:
        raise _unauthorized(f"invalid token: {error}") from None


CurrentUser = Annotated[Principal, Depends(_principal)]


def _operator(user: CurrentUser) -> Principal:
    if not user.is_operator:
        raise Problem(403, "forbidden", "this endpoint is for operators")
    return user


OperatorUser = Annotated[Principal, Depends(_operator)]
