"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.errors import problem_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is down"}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """200 only when PostgreSQL and Temporal both answer."""
    checks: dict[str, str] = {}

    async def temporal() -> None:
        await services.temporal.service_client.check_health()

    for name, check in (("postgres", services.operations.ping), ("temporal", temporal)):
        try:
            await asyncio.wait_for(check(), timeout=3)
            checks[name] = "ok"
        except Exception as error:  # any failure means not ready
            checks[name] = f"down: {type(error).__name__}"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return problem_response(503, "unavailable", "a dependency does not answer", checks=checks)
