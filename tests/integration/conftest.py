"""The real parts for integration tests: Temporal dev server, PostgreSQL, localstripe and
the SMTP sink, started once per session on free ports; the engine (three workers and the
API) runs in this process against them."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from adapters.db import async_url, create_engine
from adapters.seed import seed
from adapters.settings import Settings
from adapters.temporal import connect
from api.main import create_app
from devstack.services import (
    Service,
    ensure_database,
    free_port,
    register_stripe_webhook,
    start_localstripe,
    start_postgres,
    start_smtp_sink,
    start_temporal,
)
from workers import notifications, orders, payments

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_PASSWORD = "operator-password-for-tests"
WEBHOOK_SECRET = "whsec_integration_tests"


@dataclass
class RealParts:
    temporal: str
    database_url: str
    stripe: str
    smtp_port: int
    mail_dir: Path


@pytest.fixture(scope="session")
def real_parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealParts]:
    base = tmp_path_factory.mktemp("real-parts")
    started: list[Service] = []
    cleanup: list[Path] = []
    try:
        temporal = start_temporal(
            port=free_port(), ui_port=free_port(), db_file=None, log_file=base / "temporal.log"
        )
        started.append(temporal)
        stripe = start_localstripe(port=free_port(), log_file=base / "localstripe.log")
        started.append(stripe)
        smtp_port = free_port()
        started.append(
            start_smtp_sink(port=smtp_port, mail_dir=base / "mail", log_file=base / "smtp.log")
        )
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            # Not under pytest's tmp tree: the server runs as another user, and pytest
            # re-tightens the permissions of its own folders.
            pg_dir = Path(tempfile.mkdtemp(prefix="engine-test-pg-"))
            cleanup.append(pg_dir)
            postgres = start_postgres(pg_dir / "data")
            started.append(postgres)
            server_url = postgres.address
        yield RealParts(
            temporal.address, async_url(server_url), stripe.address, smtp_port, base / "mail"
        )
    finally:
        for service in reversed(started):
            service.stop()
        for folder in cleanup:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def settings(real_parts: RealParts) -> Settings:
    """Settings for a fresh database with the schema migrated and the catalogue seeded."""
    database = await ensure_database(
        real_parts.database_url, f"engine_test_{uuid.uuid4().hex[:10]}"
    )
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database
    await asyncio.to_thread(command.upgrade, config, "head")  # alembic runs its own loop
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database,
        temporal_address=real_parts.temporal,
        stripe_api_base=real_parts.stripe,
        smtp_port=real_parts.smtp_port,
        jwt_secret="integration-test-secret-0123456789",  # type: ignore[arg-type]
        stripe_webhook_secret=WEBHOOK_SECRET,  # type: ignore[arg-type]
        operator_password=OPERATOR_PASSWORD,  # type: ignore[arg-type]
        log_format="console",
        # one client address runs the whole suite; tests/integration/test_api_limits.py
        # checks the default limits on apps of its own
        rate_limit_login="10000/minute",
        rate_limit_login_address="10000/minute",
        rate_limit_register="10000/minute",
        rate_limit_orders="10000/minute",
    )
    await seed(s)
    return s


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def temporal(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
async def workers(settings: Settings, temporal: Client) -> AsyncIterator[None]:
    """The three task queues' workers, built exactly as their entry points build them."""
    async with AsyncExitStack() as stack:
        for module in (orders, payments, notifications):
            worker: Worker = await module.build(temporal, settings)
            await stack.enter_async_context(worker)
        yield


@pytest.fixture(scope="session")
async def api(settings: Settings, workers: None) -> AsyncIterator[httpx.AsyncClient]:
    """The API app with its lifespan, called in-process over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.fixture(scope="session")
async def live_api(
    settings: Settings, api: httpx.AsyncClient, real_parts: RealParts
) -> AsyncIterator[str]:
    """The same app also served over real HTTP, with localstripe's webhooks pointed at it."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    register_stripe_webhook(real_parts.stripe, "tests", f"{url}/v1/webhooks/stripe", WEBHOOK_SECRET)
    yield url
    server.should_exit = True
    await task
