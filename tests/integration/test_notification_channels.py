"""One notification per event, delivered on every channel the registry enables, against the
real parts: Temporal dev server, PostgreSQL, the SMTP sink, a merchant webhook endpoint's
receiver and an SMS provider stand-in. NotificationWorkflows are started as the order starts
them (no channel named, `event_notification_id`), on a worker built as
`workers.notifications` builds it, with the channel settings each test needs; the webhook
channel is on because an endpoint takes every event (deleted after each test).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from activities.notifications import DeliveryResult, NotificationRequest
from adapters.settings import Settings
from adapters.tables import webhook_deliveries
from adapters.webhook_endpoints import EndpointStore
from tests.integration.conftest import RealParts
from tests.integration.test_notifications import (
    FAST,
    SMS_TOKEN,
    WEBHOOK_SECRET,
    add_event,
    http_stand_in,
    mail_for,
    notification_workers,
    place_order,
    row,
    text_of,
    verify,
)
from tests.integration.test_webhook_deliveries import only_this_tests_endpoints
from workflows.notification import NotificationWorkflow, event_notification_id
from workflows.webhook_contracts import event_id

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures(only_this_tests_endpoints.__name__)]


@dataclass
class Receivers:
    """What the SMS provider and the merchant's endpoint received."""

    texts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)


@asynccontextmanager
async def every_channel(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> AsyncIterator[tuple[str, Receivers]]:
    """A notifications worker with SMS configured and a merchant endpoint taking every event
    (on loopback, as `make run` allows), and their receivers."""
    received = Receivers()

    async def provider(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == f"Bearer {SMS_TOKEN}"
        received.texts.append((request.headers["Idempotency-Key"], await request.json()))
        return web.json_response({"id": f"sms_{len(received.texts)}"}, status=201)

    async def merchant(request: web.Request) -> web.Response:
        body = await request.read()
        assert verify(WEBHOOK_SECRET, request.headers["X-Signature"], body)
        hook = json.loads(body)
        assert request.headers["X-Event-Id"] == hook["id"]
        received.hooks.append(hook)
        return web.Response(status=204)

    async with (
        http_stand_in(provider) as sms_url,
        http_stand_in(merchant) as hook_url,
        notification_workers(
            temporal,
            settings,
            sms_provider_url=sms_url,
            sms_provider_token=SecretStr(SMS_TOKEN),
            webhook_allow_loopback_http=True,
        ) as queue,
    ):
        await EndpointStore(engine).create(
            url=hook_url, events=["*"], description="", secret=WEBHOOK_SECRET
        )
        yield queue, received


async def delivery_status(engine: AsyncEngine, order_id: str, event: str) -> list[str]:
    """The statuses of the event's webhook deliveries (the delivery log)."""
    async with engine.connect() as conn:
        found = await conn.execute(
            select(webhook_deliveries.c.status).where(
                webhook_deliveries.c.event_id == event_id(order_id, event, 1)
            )
        )
        return list(found.scalars())


async def notify(temporal: Client, queue: str, request: NotificationRequest) -> DeliveryResult:
    return await temporal.execute_workflow(
        NotificationWorkflow.run,
        request,
        id=event_notification_id(request.order_id, request.event, request.occurrence),
        task_queue=queue,
        execution_timeout=timedelta(minutes=2),
    )


def customer(order_id: str, event: str, occurrence: int = 1) -> NotificationRequest:
    return NotificationRequest(
        order_id=order_id,
        event=event,
        customer_id=f"cus_{order_id}",
        occurrence=occurrence,
        policy=FAST,
    )


async def test_one_notification_reaches_every_channel_enabled_for_its_customer(
    temporal: Client, settings: Settings, engine: AsyncEngine, real_parts: RealParts
) -> None:
    with_phone, without_phone = await place_order(engine), await place_order(engine, phone=None)

    async with every_channel(temporal, settings, engine) as (queue, received):
        both = await notify(temporal, queue, customer(with_phone, "order_shipped"))
        no_sms = await notify(temporal, queue, customer(without_phone, "order_shipped"))

    assert both.status == "sent" and set(both.channels) == {"email", "sms", "webhook"}
    assert no_sms.status == "sent" and set(no_sms.channels) == {"email", "webhook"}
    [mail] = mail_for(real_parts.mail_dir, with_phone)
    assert mail["Message-ID"].strip() == f"<{with_phone}.order_shipped.email@example.com>"
    assert "tracking number JD014600006281" in text_of(mail)[0]
    assert len(mail_for(real_parts.mail_dir, without_phone)) == 1
    [(key, text)] = received.texts
    assert key == f"{with_phone}/order_shipped/sms" and text["to"] == "+44 20 7946 0000"
    assert {hook["id"] for hook in received.hooks} == {
        event_id(with_phone, "order_shipped", 1),
        event_id(without_phone, "order_shipped", 1),
    }
    for channel in ("email", "sms"):
        state = await row(engine, with_phone, "order_shipped", channel)
        assert (state["status"], state["attempts"]) == ("sent", 1), channel
    assert (await row(engine, with_phone, "order_shipped", "webhook"))["status"] is None
    assert await delivery_status(engine, with_phone, "order_shipped") == ["sent"]
    assert (await row(engine, without_phone, "order_shipped", "sms"))["status"] is None


async def test_a_second_refund_sends_a_second_message_on_every_channel(
    temporal: Client, settings: Settings, engine: AsyncEngine, real_parts: RealParts
) -> None:
    order_id = await place_order(engine)
    await add_event(engine, order_id, "refund_issued", {"amount": 800, "reason": "late"})

    async with every_channel(temporal, settings, engine) as (queue, received):
        first = await notify(temporal, queue, customer(order_id, "refund_issued", 1))
        second = await notify(temporal, queue, customer(order_id, "refund_issued", 2))
        again = await notify(temporal, queue, customer(order_id, "refund_issued", 2))

    assert first.status == second.status == "sent"
    assert again.duplicate, "an occurrence already delivered is not sent again"
    mails = sorted(mail_for(real_parts.mail_dir, order_id), key=lambda m: len(m["Message-ID"]))
    assert [m["Message-ID"].strip() for m in mails] == [
        f"<{order_id}.refund_issued.email@example.com>",
        f"<{order_id}.refund_issued.email.2@example.com>",
    ]
    assert [str(m["Subject"]) for m in mails] == [
        f"Refund of 12.00 EUR for order {order_id}",
        f"Refund of 8.00 EUR for order {order_id}",
    ]
    assert [key for key, _ in received.texts] == [
        f"{order_id}/refund_issued/sms",
        f"{order_id}/refund_issued/sms/2",
    ]
    assert [hook["id"] for hook in received.hooks] == [
        event_id(order_id, "refund_issued", 1),
        event_id(order_id, "refund_issued", 2),
    ]
    for occurrence in (1, 2):
        state = await row(engine, order_id, "refund_issued", "email", occurrence)
        assert state["status"] == "sent", occurrence


async def test_an_operators_notification_is_one_email_to_the_operator(
    temporal: Client, settings: Settings, engine: AsyncEngine, real_parts: RealParts
) -> None:
    order_id = await place_order(engine)
    request = NotificationRequest(
        order_id=order_id,
        event="review_required",
        audience="operator",
        recipient="ops@example.com",
        policy=FAST,
    )

    async with every_channel(temporal, settings, engine) as (queue, received):
        result = await notify(temporal, queue, request)

    assert result.status == "sent" and list(result.channels) == ["email"]
    [mail] = mail_for(real_parts.mail_dir, order_id)
    assert mail["To"] == "ops@example.com" and "needs review" in str(mail["Subject"])
    assert received.texts == [] and received.hooks == []


async def test_a_notification_for_an_order_the_read_model_lacks_fails_without_a_message(
    temporal: Client, settings: Settings, engine: AsyncEngine, real_parts: RealParts
) -> None:
    order_id = f"ord_{uuid.uuid4().hex[:20]}"

    async with every_channel(temporal, settings, engine) as (queue, received):
        result = await notify(temporal, queue, customer(order_id, "order_shipped"))

    assert result.status == "failed" and list(result.channels) == ["email"]
    assert mail_for(real_parts.mail_dir, order_id) == []
    assert received.texts == [] and received.hooks == []
