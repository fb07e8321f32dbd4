"""The API's composition root: builds adapters once and mounts the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from adapters.catalogue import Catalogue
from adapters.db import create_engine
from adapters.idempotency_store import IdempotencyStore
from adapters.notification_store import NotificationStore
from adapters.operations_store import OperationsStore
from adapters.order_export import OrderExport
from adapters.order_store import OrderStore
from adapters.reconciliation_store import ReconciliationStore
from adapters.settings import Settings, get_settings
from adapters.status_waits import StatusWaits
from adapters.stripe_events import StripeEventStore
from adapters.temporal import connect
from adapters.user_store import UserStore
from adapters.webhook_endpoints import EndpointStore, Seeding
from api import errors, middleware, observability, openapi, security
from api.deps import Services
from api.order_client import OrderClient
from api.ratelimit import RateLimits
from api.routes import (
    auth,
    codec,
    health,
    metrics,
    order_commands,
    order_export,
    order_history,
    order_returns,
    orders,
    payments,
    products,
    webhook_endpoints,
    webhooks,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # whatever was opened is closed, in reverse, however the app ends: a start that fails
        # half way or a server that stops with an exception leaves no listener or pool behind
        async with AsyncExitStack() as opened:
            # one pool for every store; routes reach the database only through them (it is
            # on the app's state for whoever watches its statements, as the metrics test does)
            engine = app.state.engine = create_engine(settings)
            opened.push_async_callback(engine.dispose)
            temporal = await connect(settings, lazy=True)  # starts while Temporal is down
            orders = OrderStore(engine)
            status_waits = StatusWaits(settings.database_url)
            await status_waits.start()
            opened.push_async_callback(status_waits.stop)
            endpoints = EndpointStore(engine)
            seeding = await Seeding.start(endpoints, settings)  # MERCHANT_WEBHOOK_URL's endpoint
            opened.push_async_callback(seeding.stop)
            app.state.services = Services(
                settings=settings,
                temporal=temporal,
                users=UserStore(engine),
                catalogue=Catalogue(engine),
                orders=orders,
                status_waits=status_waits,
                order_export=OrderExport(engine),
                order_client=OrderClient(temporal, orders, settings),
                idempotency_keys=IdempotencyStore(engine),
                notifications=NotificationStore(engine),
                stripe_events=StripeEventStore(engine),
                reconciliation=ReconciliationStore(engine),
                operations=OperationsStore(engine),
                webhook_endpoints=endpoints,
                limits=RateLimits(settings),
            )
            yield

    app = FastAPI(
        title="Commerce Engine API",
        version="1",
        summary="Orders, payments and notifications as durable Temporal workflows.",
        lifespan=lifespan,
    )
    security.check_keys(settings)
    errors.install(app)
    middleware.install(app, settings)
    openapi.install(app)
    routes = (
        health,
        auth,
        products,
        order_export,  # before orders: its /v1/orders/{order_id} would take "export"
        orders,
        order_commands,
        order_returns,
        order_history,
        payments,
        webhooks,
        webhook_endpoints,
        codec,
        metrics,
    )
    for module in routes:
        app.include_router(module.router)
    observability.install(app, settings)  # after any other middleware: it must run first
    return app


def app() -> FastAPI:
    """Factory for `uvicorn --factory api.main:app`."""
    return create_app()
