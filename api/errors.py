"""RFC 9457 problem details: the one place errors become HTTP.

Every 4xx and 5xx answer is `application/problem+json` with a stable `type` slug
(`/problems/<slug>`), `title`, `status` and `detail`; validation problems list the
failing fields in `errors`. Every 401 carries `WWW-Authenticate: Bearer`.

    Problem              raised by routes and dependencies: status, slug, detail, headers
    DomainError          from `domain/` (raised here, or a workflow's refusal the order client
                         turned back into its class): mapped by class, its `code` the slug
    RequestValidationError  422 validation-error or malformed-json
    HTTPException        Starlette's own (404 unknown route, 405, 413 body too large)
    OSError, DBAPIError  503 unavailable with Retry-After when the database does not answer
                         (refused, or the connection died under the statement)
    RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, RuntimeError
                         503 unavailable with Retry-After when Temporal does not answer
                         (UNAVAILABLE, DEADLINE_EXCEEDED, an update's call timed out, or the
                         client could not connect at all: the SDK's "Failed client connect")
    Exception            500 internal-error, logged, never detailed
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from adapters.db import unreachable
from adapters.temporal import connect_failed
from domain.errors import (
    DomainError,
    IdempotencyKeyReused,
    InvalidOrder,
    InvalidTransition,
    NotFound,
    OutOfStock,
    PaymentRefused,
    RefundTooLarge,
)

log = structlog.get_logger()

RETRY_AFTER_SECONDS = 5
"""What a 503 asks a client to wait: about what a PostgreSQL restart takes."""

_TEMPORAL_ABSENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
"""Temporal's answers that mean it is not there (the client has retried them already)."""

_DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidOrder: 422,
    OutOfStock: 409,
    InvalidTransition: 409,
    NotFound: 404,  # a shipment or return the order does not have
    RefundTooLarge: 422,
    IdempotencyKeyReused: 422,
    PaymentRefused: 502,  # the provider's final no: a gateway's answer, not the client's fault
}
"""HTTP status of each kind of refusal; a subclass answers as its nearest listed ancestor."""

_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


class FieldError(BaseModel):
    """One failing field of a request: where (`["body", "lines", 0, "quantity"]`) and why."""

    loc: list[str]
    msg: str
    type: str


class ProblemOut(BaseModel):
    """An RFC 9457 problem document, the body of every 4xx and 5xx answer."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "no product NOPE",
                }
            ]
        },
    )

    type: str = Field(description="`/problems/<slug>`, stable for clients to program against")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="validation problems only: the failing fields"
    )


class Problem(Exception):
    """Raise anywhere in `api/` to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.extra = status, slug, detail, extra
        self.headers = headers


def problem_response(
    status: int, slug: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    if status == 401:
        # RFC 9110: a 401 names the scheme that would be accepted
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    body = {
        "type": f"/problems/{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def problems(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problems a route answers with, e.g. `{404: "no such sku"}`."""
    return {
        status: {"model": ProblemOut, "description": description}
        for status, description in descriptions.items()
    }


def domain_status(error: DomainError) -> int:
    """The status of the nearest class in `error`'s ancestry that has one; 409 (a conflict
    with the order as it stands) for a bare `DomainError`."""
    for cls in type(error).__mro__:
        if cls in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[cls]
    return 409


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.slug, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status, detail = domain_status(exc), str(exc)
        if exc.skus:  # the lines the refusal concerns (out of stock, unknown)
            return problem_response(status, exc.code, detail, skus=exc.skus)
        return problem_response(status, exc.code, detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        malformed = any(err["type"] == "json_invalid" for err in errors)
        return problem_response(
            422,
            "malformed-json" if malformed else "validation-error",
            "the request body is not valid JSON" if malformed else "the request is invalid",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI could not read the body at all (e.g. JSON that is not UTF-8)
            return problem_response(
                422, "malformed-json", "the request body could not be parsed", errors=[]
            )
        slug = _SLUGS.get(exc.status_code, "error")
        return problem_response(
            exc.status_code, slug, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OSError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(RPCError)
    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    @app.exception_handler(RuntimeError)
    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, (OSError, DBAPIError)) and not unreachable(exc):
            return await _unexpected(request, exc)  # a statement's own error: ours to fix
        if isinstance(exc, RuntimeError) and not connect_failed(exc):
            return await _unexpected(request, exc)
        if isinstance(exc, RPCError) and exc.status not in _TEMPORAL_ABSENT:
            return await _unexpected(request, exc)  # Temporal answered: a refusal to fix
        log.warning("dependency_unavailable", path=request.url.path, error=type(exc).__name__)
        return problem_response(
            503,
            "unavailable",
            "a dependency does not answer; try again shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(500, "internal-error", "an unexpected error occurred")
