"""`GET /metrics`: Prometheus text for the API process, with orders by status."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import func, select

from adapters.tables import orders
from api.deps import ServicesDep

router = APIRouter(tags=["health"])
log = structlog.get_logger()

ORDERS_BY_STATUS = Gauge("engine_orders", "Orders in the read model by status.", ["status"])
_seen: set[str] = set()


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Request counts and latencies by route, and the read model's orders by status."""
    try:
        async with services.engine.connect() as conn:
            rows = await conn.execute(
                select(orders.c.status, func.count()).group_by(orders.c.status)
            )
            counts = {status: count for status, count in rows.all()}
    except Exception as error:  # metrics must answer even when PostgreSQL does not
        log.warning("metrics_orders_unavailable", error=type(error).__name__)
    else:
        _seen.update(counts)  # a status seen before drops to 0 rather than vanish
        for status in _seen:
            ORDERS_BY_STATUS.labels(status).set(counts.get(status, 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
