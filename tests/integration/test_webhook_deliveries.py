"""Merchant webhook deliveries against the real parts: Temporal dev server, PostgreSQL, the
SMTP sink, and a receiver on loopback started by each test (`WEBHOOK_ALLOW_LOOPBACK_HTTP` on
for the test's own notifications worker, built as `workers.notifications` builds it).

Notifications are started as the order starts them (no channel named); the channel registry
turns `webhook` on when an endpoint takes the event, and each endpoint gets its own delivery,
signed with its secret, logged attempt by attempt. Every endpoint a test makes is deleted
after it, so no other test's notification is delivered to one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from activities.notifications import DeliveryPolicy, DeliveryResult, NotificationRequest
from adapters.settings import Settings
from adapters.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from adapters.webhook_endpoints import EndpointStore, new_secret
from devstack.mailbox import read_mailbox
from tests.integration.conftest import RealParts
from tests.integration.helpers import operator
from tests.integration.test_notifications import http_stand_in, notification_workers, place_order
from workers import notifications as notifications_worker
from workflows.notification import NotificationWorkflow, event_notification_id
from workflows.webhook_contracts import WebhookDelivery, event_id, webhook_delivery_workflow_id
from workflows.webhook_delivery import WebhookDeliveryWorkflow

pytestmark = pytest.mark.integration

FAST = DeliveryPolicy(
    attempt_timeout=timedelta(seconds=5),
    heartbeat_timeout=timedelta(seconds=3),
    first_retry=timedelta(milliseconds=200),
    max_retry_interval=timedelta(seconds=1),
)


def signatures_by(secret: str, header: str, body: bytes, tolerance: int = 300) -> int:
    """How many of the header's `v1=` values are `secret`'s HMAC-SHA256 over `t.body`, written
    here from the docs (docs/webhooks.md) rather than with the engine's code; 0 for a stale or
    malformed header."""
    pairs = [item.split("=", 1) for item in header.split(",")]
    stamps = [value for key, value in pairs if key == "t"]
    if len(stamps) != 1 or abs(time.time() - int(stamps[0])) > tolerance:
        return 0
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256)
    return sum(hmac.compare_digest(expected.hexdigest(), v) for k, v in pairs if k == "v1")


@dataclass
class Received:
    event_id: str
    signature: str
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A merchant's endpoint: answers each request with the next of `answers` (then 204),
    `hang` seconds late for the first `hangs` requests."""

    answers: list[int] = field(default_factory=list)
    hang: float = 0.0
    hangs: int = 0
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            Received(request.headers["X-Event-Id"], request.headers["X-Signature"], body)
        )
        if self.hangs:
            self.hangs -= 1
            await asyncio.sleep(self.hang)
        return web.Response(status=self.answers.pop(0) if self.answers else 204)

    def of(self, event: str) -> list[Received]:
        return [r for r in self.received if r.event["type"] == event]


@pytest.fixture(autouse=True)
async def only_this_tests_endpoints(engine: AsyncEngine) -> AsyncIterator[None]:
    """Deletes the endpoints the test made (their deliveries and attempts go with them)."""
    async with engine.connect() as conn:
        before = set((await conn.execute(select(webhook_endpoints.c.id))).scalars())
    yield
    async with engine.begin() as conn:
        await conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id.not_in(before)))


@asynccontextmanager
async def receiving(
    temporal: Client, settings: Settings, receiver: Receiver
) -> AsyncIterator[tuple[str, str]]:
    """The receiver on loopback and a notifications worker allowed to reach it: (its URL,
    the worker's task queue)."""
    async with (
        http_stand_in(receiver.handle) as url,
        notification_workers(temporal, settings, webhook_allow_loopback_http=True) as queue,
    ):
        yield url, queue


async def endpoint(engine: AsyncEngine, url: str, events: list[str]) -> tuple[str, str]:
    """An endpoint as the API creates it: (its id, its secret)."""
    secret = new_secret()
    made = await EndpointStore(engine).create(
        url=url, events=events, description="test receiver", secret=secret
    )
    return made["id"], secret


async def notify(
    temporal: Client, queue: str, order_id: str, event: str, occurrence: int = 1
) -> DeliveryResult:
    request = NotificationRequest(
        order_id=order_id,
        event=event,
        customer_id=f"cus_{order_id}",
        occurrence=occurrence,
        policy=FAST,
    )
    return await temporal.execute_workflow(
        NotificationWorkflow.run,
        request,
        id=event_notification_id(order_id, event, occurrence),
        task_queue=queue,
        execution_timeout=timedelta(minutes=2),
    )


async def log_of(engine: AsyncEngine, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's deliveries, each with its attempts in order."""
    async with engine.connect() as conn:
        deliveries = (
            await conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.endpoint_id == endpoint_id)
                .order_by(webhook_deliveries.c.created_at)
            )
        ).mappings()
        log = [dict(d) for d in deliveries]
        for delivery in log:
            attempts = await conn.execute(
                select(webhook_attempts)
                .where(webhook_attempts.c.delivery_id == delivery["id"])
                .order_by(webhook_attempts.c.seq)
            )
            delivery["attempts"] = [dict(a) for a in attempts.mappings()]
    return log


async def test_each_endpoint_gets_the_events_it_takes_signed_with_its_own_secret(
    temporal: Client,
    settings: Settings,
    engine: AsyncEngine,
    api: httpx.AsyncClient,
) -> None:
    order_id = await place_order(engine)
    receiver = Receiver()
    async with receiving(temporal, settings, receiver) as (url, queue):
        every, every_secret = await endpoint(engine, f"{url}/every", ["*"])
        shipped, shipped_secret = await endpoint(engine, f"{url}/shipped", ["order_shipped"])
        off, _ = await endpoint(engine, f"{url}/off", ["*"])
        await EndpointStore(engine).update(off, enabled=False)

        confirmed = await notify(temporal, queue, order_id, "order_confirmed")
        sent = await notify(temporal, queue, order_id, "order_shipped")

    assert confirmed.channels["webhook"].status == "sent"
    assert sent.status == "sent" and set(sent.channels) == {"email", "webhook"}
    by_secret = {
        secret: [r for r in receiver.received if signatures_by(secret, r.signature, r.body)]
        for secret in (every_secret, shipped_secret)
    }
    assert [r.event["type"] for r in by_secret[every_secret]] == [
        "order_confirmed",
        "order_shipped",
    ]
    assert [r.event["type"] for r in by_secret[shipped_secret]] == ["order_shipped"]
    assert len(receiver.received) == 3, "nothing for the disabled endpoint, nothing unsigned"
    for request in receiver.received:
        event = request.event
        assert request.event_id == event["id"] == event_id(order_id, event["type"], 1)
        assert event["data"]["order"]["id"] == order_id
        assert event["data"]["order"]["total"] == {"amount": 6200, "currency": "EUR"}
        assert datetime.fromisoformat(event["created_at"]).utcoffset() == timedelta(0)
        assert event["created_at"].endswith("Z")
    [at_every, at_shipped] = receiver.of("order_shipped")
    assert at_every.body == at_shipped.body, "one event: the same body at every endpoint"
    assert at_every.event["data"]["event"]["tracking_number"] == "JD014600006281"

    for endpoint_id, events in ((every, 2), (shipped, 1)):
        log = await log_of(engine, endpoint_id)
        assert [d["status"] for d in log] == ["sent"] * events
        assert all(d["sent_series"] == 1 and d["sent_at"] for d in log)
        assert all(
            [(a["outcome"], a["status_code"], a["error"]) for a in d["attempts"]]
            == [("sent", 204, None)]
            for d in log
        )
    assert await log_of(engine, off) == []

    notifications = await api.get(
        f"/v1/orders/{order_id}/notifications", headers=await operator(api)
    )
    assert {n["channel"] for n in notifications.json()} == {"email"}, "webhooks: the log"


async def test_a_receiver_failing_twice_gets_the_same_event_a_third_time_and_takes_it(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> None:
    order_id = await place_order(engine)
    receiver = Receiver(answers=[500, 500, 200])
    async with receiving(temporal, settings, receiver) as (url, queue):
        endpoint_id, secret = await endpoint(engine, url, ["order_delivered"])

        result = await notify(temporal, queue, order_id, "order_delivered")

    assert result.status == "sent"
    assert len(receiver.received) == 3
    assert len({(r.event_id, r.body) for r in receiver.received}) == 1, "frozen body, one id"
    assert all(signatures_by(secret, r.signature, r.body) == 1 for r in receiver.received)
    [delivery] = await log_of(engine, endpoint_id)
    assert [(a["outcome"], a["status_code"], a["error"]) for a in delivery["attempts"]] == [
        ("failed", 500, "HTTP 500"),
        ("failed", 500, "HTTP 500"),
        ("sent", 200, None),
    ]
    times = [a["at"] for a in delivery["attempts"]]
    assert times == sorted(times) and len(set(times)) == 3
    assert (delivery["status"], delivery["last_error"], delivery["next_attempt_at"]) == (
        "sent",
        None,
        None,
    )
    async with engine.connect() as conn:
        failing = await conn.scalar(
            select(webhook_endpoints.c.failing_since).where(webhook_endpoints.c.id == endpoint_id)
        )
    assert failing is None, "a 2xx ends the endpoint's failing streak"


async def test_a_receiver_that_does_not_answer_in_time_is_recorded_as_timed_out(
    temporal: Client, settings: Settings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications_worker, "HTTP_TIMEOUT", httpx.Timeout(1.0))
    order_id = await place_order(engine)
    receiver = Receiver(hang=3.0, hangs=1)
    async with receiving(temporal, settings, receiver) as (url, queue):
        endpoint_id, _ = await endpoint(engine, url, ["order_confirmed"])

        result = await notify(temporal, queue, order_id, "order_confirmed")

    assert result.status == "sent"
    [delivery] = await log_of(engine, endpoint_id)
    [(timed_out, code, error), sent] = [
        (a["outcome"], a["status_code"], a["error"]) for a in delivery["attempts"]
    ]
    assert (timed_out, code) == ("failed", None) and "timed out after 1 s" in error
    assert sent == ("sent", 204, None)
    assert [r.event_id for r in receiver.received] == [event_id(order_id, "order_confirmed", 1)] * 2


async def test_a_redelivery_sends_the_same_event_again_as_a_new_series(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> None:
    order_id = await place_order(engine)
    receiver = Receiver()
    async with receiving(temporal, settings, receiver) as (url, queue):
        endpoint_id, _ = await endpoint(engine, url, ["refund_issued"])
        await notify(temporal, queue, order_id, "refund_issued")
        [delivery] = await log_of(engine, endpoint_id)

        redelivered = await EndpointStore(engine).redeliver(endpoint_id, delivery["id"])
        assert redelivered is not None
        _, series, _ = redelivered
        again = await temporal.execute_workflow(
            WebhookDeliveryWorkflow.run,
            WebhookDelivery(delivery_id=delivery["id"], series=series, policy=FAST),
            id=webhook_delivery_workflow_id(delivery["id"], series),
            task_queue=queue,
            execution_timeout=timedelta(minutes=1),
        )

    assert series == 2 and again.status == "sent" and not again.duplicate
    [first, second] = receiver.received
    assert first.event_id == second.event_id == event_id(order_id, "refund_issued", 1)
    assert first.body == second.body
    [logged] = await log_of(engine, endpoint_id)
    assert (logged["status"], logged["series"], logged["sent_series"]) == ("sent", 2, 2)
    assert [(a["series"], a["outcome"]) for a in logged["attempts"]] == [(1, "sent"), (2, "sent")]


async def test_after_a_rotation_both_secrets_sign_until_the_old_one_expires(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> None:
    order_id = await place_order(engine)
    receiver = Receiver()
    async with receiving(temporal, settings, receiver) as (url, queue):
        endpoint_id, old = await endpoint(engine, url, ["order_accepted", "order_confirmed"])
        new = new_secret()
        await EndpointStore(engine).rotate(endpoint_id, new)
        await notify(temporal, queue, order_id, "order_accepted")

        async with engine.begin() as conn:  # a day later
            await conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint_id)
                .values(previous_secret_until=datetime.now().astimezone() - timedelta(seconds=1))
            )
        await notify(temporal, queue, order_id, "order_confirmed")

    [during, after] = receiver.received
    assert during.signature.count("v1=") == 2
    assert signatures_by(new, during.signature, during.body) == 1
    assert signatures_by(old, during.signature, during.body) == 1
    assert after.signature.count("v1=") == 1
    assert signatures_by(new, after.signature, after.body) == 1
    assert signatures_by(old, after.signature, after.body) == 0


async def refused_a_few_times(
    temporal: Client, queue: str, receiver: Receiver, order_id: str, event: str
) -> asyncio.Task[DeliveryResult]:
    """The event's notification, started and left retrying once the receiver refused it
    three times."""
    notified = asyncio.create_task(notify(temporal, queue, order_id, event))
    for _ in range(400):
        if len(receiver.received) >= 3:
            return notified
        await asyncio.sleep(0.05)
    raise AssertionError(f"the receiver got {len(receiver.received)} requests, not 3")


async def test_deleting_an_endpoint_stops_its_pending_deliveries(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> None:
    order_id = await place_order(engine)
    receiver = Receiver(answers=[503] * 1000)
    async with receiving(temporal, settings, receiver) as (url, queue):
        endpoint_id, _ = await endpoint(engine, url, ["order_cancelled"])
        notified = await refused_a_few_times(temporal, queue, receiver, order_id, "order_cancelled")

        assert await EndpointStore(engine).delete(endpoint_id)
        result = await asyncio.wait_for(notified, timeout=30)  # not the day's window

    assert result.channels["webhook"].status == "sent", "nothing left to send"
    assert result.channels["email"].status == "sent"
    assert await log_of(engine, endpoint_id) == []


async def test_an_endpoint_an_operator_disables_fails_its_pending_deliveries_without_email(
    temporal: Client, settings: Settings, engine: AsyncEngine, real_parts: RealParts
) -> None:
    order_id = await place_order(engine)
    receiver = Receiver(answers=[503] * 1000)
    async with receiving(temporal, settings, receiver) as (url, queue):
        endpoint_id, _ = await endpoint(engine, url, ["order_delivered"])
        notified = await refused_a_few_times(temporal, queue, receiver, order_id, "order_delivered")

        await EndpointStore(engine).update(endpoint_id, enabled=False)
        result = await asyncio.wait_for(notified, timeout=30)

    assert result.channels["webhook"].status == "failed"
    [delivery] = await log_of(engine, endpoint_id)
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "EndpointDisabled: the endpoint is disabled"
    assert all(a["outcome"] == "failed" for a in delivery["attempts"])
    notices = [m for m in read_mailbox(real_parts.mail_dir) if endpoint_id in str(m["Subject"])]
    assert notices == [], "the operator disabled it: nobody to tell"
