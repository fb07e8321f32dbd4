"""The API's composition root: builds adapters once and mounts the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.catalogue import Catalogue
from adapters.db import create_engine
from adapters.notification_store import NotificationStore
from adapters.order_store import OrderStore
from adapters.settings import Settings, get_settings
from adapters.temporal import connect
from adapters.user_store import UserStore
from api import errors
from api.deps import Services
from api.routes import auth, health, orders, products


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        temporal = await connect(settings)
        app.state.services = Services(
            settings=settings,
            engine=engine,
            temporal=temporal,
            users=UserStore(engine),
            catalogue=Catalogue(engine),
            orders=OrderStore(engine),
            notifications=NotificationStore(engine),
        )
        yield
        await engine.dispose()

    app = FastAPI(
        title="Commerce Engine API",
        version="1",
        summary="Orders, payments and notifications as durable Temporal workflows.",
        lifespan=lifespan,
    )
    errors.install(app)
    for module in (health, auth, products, orders):
        app.include_router(module.router)
    return app


def app() -> FastAPI:
    """Factory for `uvicorn --factory api.main:app`."""
    return create_app()
