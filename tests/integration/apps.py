"""Apps of their own for tests that need other settings than the session's (rate limits,
CORS, RS256), on the same real servers; `client` sets the caller's address."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from adapters.settings import Settings
from api.main import create_app


def random_ip() -> str:
    return "10." + ".".join(str(random.randint(1, 254)) for _ in range(3))


@asynccontextmanager
async def app_client(
    settings: Settings,
    *,
    client: str = "127.0.0.1",
    extend: Callable[[FastAPI], None] | None = None,
    **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=overrides))
    if extend is not None:
        extend(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client, 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http
