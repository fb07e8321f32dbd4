"""ASGI middleware for operations: the request id, HTTP metrics, CORS for the codec only.

Plain ASGI (not `BaseHTTPMiddleware`) so the structlog context bound here is the one the
route runs in, and from there the Temporal interceptor copies the request id into headers.
"""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import Counter, Histogram
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters import tracing
from adapters.settings import Settings

_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
)


def install(app: FastAPI, settings: Settings) -> None:
    """Add after the edge middleware: the last added runs first, so the request id wraps
    everything and the codec's CORS answers the UI's preflights before any other CORS."""
    app.add_middleware(CodecCORSMiddleware, ui_url=settings.temporal_ui_url)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    if provider := tracing.provider():  # a server span around all of it, when traces are on
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            excluded_urls="/healthz,/readyz,/metrics",
            exclude_spans=["receive", "send"],
        )


class RequestIdMiddleware:
    """Accept a sane `X-Request-ID` or make one; bind it for the logs; echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _VALID_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class MetricsMiddleware:
    """Count and time every request by its route template (`/v1/orders/{order_id}`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()


class CodecCORSMiddleware:
    """CORS for the Temporal UI's origin on `/codec/*`; every other path is left alone."""

    def __init__(self, app: ASGIApp, *, ui_url: str) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=ui_origins(ui_url),
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/codec/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def ui_origins(ui_url: str) -> list[str]:
    """The UI's origin; on loopback both spellings a browser may use."""
    parts = urlsplit(ui_url)
    port = f":{parts.port}" if parts.port else ""
    hosts = {parts.hostname or ""}
    if hosts & {"127.0.0.1", "localhost"}:
        hosts = {"127.0.0.1", "localhost"}
    return sorted(f"{parts.scheme}://{host}{port}" for host in hosts)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None
