"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

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

    async def database() -> None:
        async with services.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def temporal() -> None:
        await services.temporal.service_client.check_health()

    for name, check in (("postgres", database), ("temporal", temporal)):
        try:
            await asyncio.wait_for(check(), timeout=3)
            checks[name] = "ok"
        except Exception as error:  # any failure means not ready
            checks[name] = f"down: {type(error).__name__}"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return problem_response(503, "unavailable", "a dependency does not answer", checks=checks)
