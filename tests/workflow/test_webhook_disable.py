"""An endpoint whose every delivery fails for three days is disabled, and the operator is
emailed once: on the time-skipping server, with the real delivery activities, PostgreSQL
(`DATABASE_URL`, or an embedded server) and a receiver on loopback that answers 500 to
everything. Only the mailer is a double (it keeps what it is given)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import DeliveryPolicy, DeliveryResult, NotificationRequest
from activities.webhooks import WebhookActivities
from adapters.db import async_url, create_engine
from adapters.merchant_webhooks import EndpointPoster
from adapters.notification_store import NotificationStore
from adapters.settings import Settings
from adapters.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from adapters.webhook_deliveries import WebhookDeliveries
from adapters.webhook_endpoints import EndpointStore, new_secret
from devstack.postgres import ensure_database, start_postgres
from tests.integration.test_notifications import http_stand_in, place_order
from workflows.notification import NotificationWorkflow, notification_id

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = "ops@example.com"
SHORT = DeliveryPolicy(
    attempt_timeout=timedelta(seconds=5),
    heartbeat_timeout=timedelta(seconds=5),
    window=timedelta(seconds=3),
    first_retry=timedelta(seconds=1),
    max_retry_interval=timedelta(seconds=1),
)
"""A delivery's attempts within three seconds of real time: the days pass between them."""


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[AsyncEngine]:
    """A fresh database, migrated, on `DATABASE_URL`'s server or an embedded one."""
    server, folder = os.environ.get("DATABASE_URL"), None
    embedded = None
    if not server:
        folder = Path(tempfile.mkdtemp(prefix="engine-webhook-pg-"))
        embedded = start_postgres(folder / "data")
        server = embedded.address
    url = await ensure_database(async_url(server), f"engine_test_{uuid.uuid4().hex[:10]}")
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    await asyncio.to_thread(command.upgrade, config, "head")
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    made = create_engine(settings)
    try:
        yield made
    finally:
        await made.dispose()
        if embedded is not None:
            embedded.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


class Mailbox:
    """The mailer double: every message given to it is taken at once."""

    sender = "Commerce Engine <orders@example.com>"

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def send(self, message: EmailMessage, accepted: Callable[[], Awaitable[None]]) -> None:
        self.messages.append(message)
        await accepted()


async def endpoint_row(engine: AsyncEngine, endpoint_id: str) -> Any:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        )
        return found.one()


async def test_an_endpoint_failing_every_delivery_for_three_days_is_disabled_once(
    time_env: WorkflowEnvironment, engine: AsyncEngine
) -> None:
    """A delivery a day, each refused for its (short) window; the fourth day's first attempt
    disables the endpoint. Time is skipped only between notifications, when no attempt is
    running: the test server would skip past a running attempt's timeouts too."""
    refused: list[str] = []

    async def receiver(request: web.Request) -> web.Response:
        refused.append(request.headers["X-Event-Id"])
        return web.Response(status=500)

    mailbox = Mailbox()
    order_id = await place_order(engine)
    queue = f"notifications-{uuid.uuid4()}"
    settings = Settings(_env_file=None, webhook_allow_loopback_http=True)  # type: ignore[call-arg]
    async with (
        http_stand_in(receiver) as url,
        httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http,
    ):
        made = await EndpointStore(engine).create(
            url=url, events=["*"], description="the shop", secret=new_secret()
        )
        endpoint_id = made["id"]
        webhooks = WebhookActivities(
            WebhookDeliveries(engine),
            NotificationStore(engine),
            EndpointPoster(http, settings),
            mailbox,
            OPERATOR,
        )
        with time_env.auto_time_skipping_disabled():  # skipped by sleep() alone
            async with Worker(
                time_env.client,
                task_queue=queue,
                workflows=[NotificationWorkflow],
                activities=[webhooks.plan, webhooks.deliver, webhooks.give_up],
            ):

                async def notify(event: str) -> WorkflowHandle[Any, DeliveryResult]:
                    request = NotificationRequest(
                        order_id=order_id, event=event, channel="webhook", policy=SHORT
                    )
                    return await time_env.client.start_workflow(
                        NotificationWorkflow.run,
                        request,
                        id=notification_id(order_id, event, "webhook"),
                        task_queue=queue,
                    )

                daily = []
                for event in ("order_accepted", "order_confirmed", "order_shipped"):  # days 0-2
                    daily.append(await (await notify(event)).result())
                    await time_env.sleep(timedelta(days=1))
                still = await endpoint_row(engine, endpoint_id)
                assert still.enabled and mailbox.messages == [], "failing for two days only"

                last = [await notify("order_delivered"), await notify("refund_issued")]  # day 3
                results = [await handle.result() for handle in last]
                nothing = await (await notify("order_cancelled")).result()

    assert [r.status for r in [*daily, *results]] == ["failed"] * 5
    endpoint = await endpoint_row(engine, endpoint_id)
    assert not endpoint.enabled
    assert (
        timedelta(days=3)
        <= endpoint.disabled_at - endpoint.failing_since
        < timedelta(days=3, hours=1)
    )
    assert endpoint.disabled_reason.startswith("every delivery failed for 3 days")
    assert "HTTP 500" in endpoint.disabled_reason
    assert endpoint.disabled_notified_at is not None
    [mail] = mailbox.messages
    assert mail["To"] == OPERATOR
    assert str(mail["Subject"]) == f"Webhook endpoint {endpoint_id} was disabled"
    assert url in mail.get_content() and "the shop" in mail.get_content()

    async with engine.connect() as conn:
        deliveries = (
            await conn.execute(
                select(webhook_deliveries.c.event, webhook_deliveries.c.status).where(
                    webhook_deliveries.c.endpoint_id == endpoint_id
                )
            )
        ).all()
        attempts = (
            await conn.execute(
                select(webhook_attempts.c.at, webhook_attempts.c.status_code)
                .join(webhook_deliveries)
                .where(webhook_deliveries.c.endpoint_id == endpoint_id)
                .order_by(webhook_attempts.c.at)
            )
        ).all()
    assert sorted(deliveries) == sorted(
        (event, "failed")
        for event in (
            "order_accepted",
            "order_confirmed",
            "order_shipped",
            "order_delivered",
            "refund_issued",
        )
    ), "none for order_cancelled: a disabled endpoint gets no new delivery"
    assert nothing.status == "sent", "nothing to send"
    assert attempts[0].at == endpoint.failing_since
    assert attempts[-1].at - attempts[0].at >= timedelta(days=3), "three days of skipped time"
    assert [a.status_code for a in attempts] == [500] * len(refused), "each one refused"
