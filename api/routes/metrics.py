"""`GET /metrics`: Prometheus text for the API process, with orders by status.

Counting orders by status is a scan of the read model, so it runs at most every
`METRICS_REFRESH_SECONDS` whatever the scrape rate (and however many scrapers); in between
the gauges keep their last values. With `METRICS_TOKEN` set the endpoint needs
`Authorization: Bearer <token>` (Prometheus: `authorization: {credentials: ...}`)."""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from adapters.operations_store import OperationsStore
from api.deps import ServicesDep
from api.errors import Problem

router = APIRouter(tags=["health"])
log = structlog.get_logger()

ORDERS_BY_STATUS = Gauge("engine_orders", "Orders in the read model by status.", ["status"])


class OrderCounts:
    """The orders-by-status gauges, recounted at most every `every` seconds."""

    def __init__(self, every: float) -> None:
        self._every = every
        self._counted_at = -math.inf
        self._lock = asyncio.Lock()
        self._seen: set[str] = set()

    def _fresh(self) -> bool:
        return time.monotonic() - self._counted_at < self._every

    async def refresh(self, store: OperationsStore) -> None:
        if self._fresh():
            return
        async with self._lock:  # concurrent scrapes wait for one count
            if self._fresh():
                return
            try:
                counts = await store.orders_by_status()
            except Exception as error:  # metrics must answer even when PostgreSQL does not
                log.warning("metrics_orders_unavailable", error=type(error).__name__)
                return
            finally:
                self._counted_at = time.monotonic()
            self._seen.update(counts)  # a status seen before drops to 0 rather than vanish
            for status in self._seen:
                ORDERS_BY_STATUS.labels(status).set(counts.get(status, 0))


def _counts(request: Request, every: float) -> OrderCounts:
    """The app's own counter (each app in a process keeps its own schedule)."""
    counts: OrderCounts | None = getattr(request.app.state, "order_counts", None)
    if counts is None:
        counts = request.app.state.order_counts = OrderCounts(every)
    return counts


@router.get(
    "/metrics",
    response_class=Response,
    responses={401: {"description": "METRICS_TOKEN is set and the bearer token is not it"}},
)
async def metrics(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Request counts and latencies by route, and the read model's orders by status."""
    settings = services.settings
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):
            raise Problem(401, "unauthorized", "the metrics bearer token is required")
    await _counts(request, settings.metrics_refresh_seconds).refresh(services.operations)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
