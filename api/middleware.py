"""The HTTP edge: security headers on every answer, a cap on request bodies, and CORS.

Pure ASGI middleware, so a body is counted as it streams in: a chunked upload without
`Content-Length` is stopped at the limit, not read whole into memory first.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.settings import Settings
from api.errors import problem_response

DOCS_PATHS = ("/docs", "/redoc")


class BodyTooLarge(HTTPException):
    """A request body went over `MAX_BODY_BYTES`; answered as a 413 problem."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodySizeLimit:
    """413 for a body over the limit, whether it declares its length or streams it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # read outside the routes' error handling (e.g. by another middleware)
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.limit)
        response = problem_response(413, "payload-too-large", error.detail)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class SecurityHeaders:
    """nosniff, no framing, no referrer, a strict CSP (relaxed for the docs pages)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        common = {
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
        }
        if settings.hsts_seconds > 0:
            common["Strict-Transport-Security"] = f"max-age={settings.hsts_seconds}"
        self._api = self._encode(
            {**common, "Content-Security-Policy": settings.content_security_policy}
        )
        self._docs = self._encode(
            {**common, "Content-Security-Policy": settings.docs_content_security_policy}
        )

    @staticmethod
    def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        return [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)
        extra = self._docs if docs else self._api

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ProblemCORS(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a problem like every other 4xx."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = bytes(response.body).decode(errors="replace")
        return problem_response(response.status_code, "cors-refused", detail)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the edge middleware. The last added runs first: security headers wrap everything,
    CORS headers reach error answers too, and the body cap sits closest to the routes."""
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORS,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, settings=settings)
