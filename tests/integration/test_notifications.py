"""Notifications against the real Temporal dev server, PostgreSQL and SMTP sinks, plus a
local merchant webhook receiver and SMS provider stand-in: one channel per workflow, as the
order started them before the channel registry (tests/integration/test_notification_channels.py
has the registry's fan-out).

NotificationWorkflows are started directly, on a worker of the test's own task queue built
exactly as `python -m workers.notifications` builds it, for orders written to the read model
here, so each test controls the channel settings and the SMTP server it talks to.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.notifications import DeliveryPolicy, DeliveryResult, NotificationRequest
from activities.records import ReturnRecord, ShipmentRecord, UnitsRecord
from adapters.notification_store import NotificationStore
from adapters.settings import Settings
from adapters.tables import notifications, order_events, orders
from adapters.temporal import connect
from adapters.webhook_endpoints import EndpointStore
from devstack.mailbox import read_mailbox, wait_for_mail
from devstack.services import free_port, start_smtp_sink
from devstack.smtp_sink import MailDirHandler
from domain.events import OrderShipped, ReturnRequested
from tests.integration.conftest import RealParts
from tests.integration.helpers import (
    customer,
    insert_customer,
    operator,
    order_body,
    wait_for_status,
)
from tests.integration.test_mailer import Relay
from workers import notifications as notifications_worker
from workflows.notification import NotificationWorkflow, event_notification_id, notification_id
from workflows.webhook_contracts import event_id

pytestmark = pytest.mark.integration

CUSTOMER_EVENTS = [
    "order_accepted",
    "payment_action_required",
    "order_confirmed",
    "payment_failed",
    "order_shipped",
    "order_delivered",
    "order_cancelled",
    "refund_issued",
]
FAST = DeliveryPolicy(
    attempt_timeout=timedelta(seconds=3),
    heartbeat_timeout=timedelta(seconds=3),
    first_retry=timedelta(milliseconds=200),
    max_retry_interval=timedelta(seconds=1),
)
WEBHOOK_SECRET = "merchant-secret-for-tests"
SMS_TOKEN = "sms-token-for-tests"
EVENT_DATA: dict[str, dict[str, Any]] = {
    "order_accepted": {"total": 6200, "currency": "EUR"},
    "payment_failed": {"reason": "Your card was declined."},
    "order_shipped": {"carrier": "DHL", "tracking_number": "JD014600006281"},
    "order_cancelled": {"reason": "changed my mind", "by": "customer"},
    "refund_issued": {"amount": 1200, "refunded_total": 1200, "reason": "mug arrived broken"},
    "review_required": {"total": 6200},
}


async def place_order(
    engine: AsyncEngine, *, phone: str | None = "+44 20 7946 0000", email: str | None = None
) -> str:
    """An order in the read model, with its customer and a timeline entry per event."""
    order_id = f"ord_{uuid.uuid4().hex[:20]}"
    customer_id = f"cus_{order_id}"
    lines = [
        {"sku": "TSHIRT-BLUE-M", "name": "T-shirt, blue", "quantity": 2, "unit_price": 2500,
         "total": 5000},
        {"sku": "MUG-WHITE", "name": "Mug", "quantity": 1, "unit_price": 1200, "total": 1200},
    ]  # fmt: skip
    async with engine.begin() as conn:
        await insert_customer(
            conn,
            customer_id,
            email=email or f"grace-{order_id}@example.com",
            name="Grace Hopper",
            phone=phone,
        )
        await conn.execute(
            orders.insert().values(
                id=order_id,
                customer_id=customer_id,
                status="shipped",
                currency="EUR",
                total=6200,
                lines=lines,
                shipping_address={"name": "Grace Hopper", "city": "Arlington", "country": "US"},
                payment_status="captured",
                authorized=6200,
                captured=6200,
                refunded=1200,
                shipment={"carrier": "DHL", "tracking_number": "JD014600006281"},
            )
        )
        await conn.execute(
            order_events.insert(),
            [
                {
                    "order_id": order_id,
                    "seq": seq,
                    "type": event,
                    "at": datetime.now(UTC),
                    "data": data,
                }
                for seq, (event, data) in enumerate(EVENT_DATA.items(), start=1)
            ],
        )
    return order_id


async def add_event(engine: AsyncEngine, order_id: str, event: str, data: dict[str, Any]) -> None:
    """The event again, later in the order's timeline (a second partial refund)."""
    of_order = order_events.c.order_id == order_id
    async with engine.begin() as conn:
        last = (await conn.execute(select(func.max(order_events.c.seq)).where(of_order))).scalar()
        await conn.execute(
            order_events.insert().values(
                order_id=order_id, seq=(last or 0) + 1, type=event, at=datetime.now(UTC), data=data
            )
        )


async def row(
    engine: AsyncEngine, order_id: str, event: str, channel: str, occurrence: int = 1
) -> dict[str, Any]:
    async with engine.connect() as conn:
        found = (
            (
                await conn.execute(
                    select(notifications).where(
                        notifications.c.order_id == order_id,
                        notifications.c.event == event,
                        notifications.c.channel == channel,
                        notifications.c.occurrence == occurrence,
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(found or {"status": None, "attempts": 0, "last_error": None})


@asynccontextmanager
async def notification_workers(
    temporal: Client, settings: Settings, copies: int = 1, **overrides: Any
) -> AsyncIterator[str]:
    """`copies` notifications workers on a fresh task queue, with settings overridden; each
    copy has its own Temporal connection, like a separate process."""
    queue = f"notifications-{uuid.uuid4()}"
    configured = settings.model_copy(update=overrides)
    async with AsyncExitStack() as stack:
        for copy in range(copies):
            client = temporal if copy == 0 else await connect(settings)
            worker = await notifications_worker.build(
                client, configured, task_queue=queue, identity=f"notifications-{copy}"
            )
            await stack.enter_async_context(worker)
        yield queue


async def deliver(
    temporal: Client,
    queue: str,
    order_id: str,
    event: str,
    channel: str = "email",
    recipient: str | None = None,
) -> DeliveryResult:
    return await temporal.execute_workflow(
        NotificationWorkflow.run,
        NotificationRequest(
            order_id=order_id, event=event, channel=channel, recipient=recipient, policy=FAST
        ),
        id=notification_id(order_id, event, channel),
        task_queue=queue,
        execution_timeout=timedelta(minutes=2),
    )


def mail_for(mail_dir: Path, order_id: str) -> list[EmailMessage]:
    return [m for m in read_mailbox(mail_dir) if str(m["X-Delivery-Key"]).startswith(order_id)]


def text_of(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


async def test_every_event_sends_one_email_with_the_order_summary(
    api: httpx.AsyncClient,
    temporal: Client,
    settings: Settings,
    engine: AsyncEngine,
    real_parts: RealParts,
) -> None:
    order_id = await place_order(engine)

    async with notification_workers(temporal, settings) as queue:
        results = await asyncio.gather(
            *(deliver(temporal, queue, order_id, event) for event in CUSTOMER_EVENTS),
            deliver(temporal, queue, order_id, "review_required", recipient="ops@example.com"),
        )
        assert [r.status for r in results] == ["sent"] * 9
        again = await deliver(temporal, queue, order_id, "order_confirmed")

    assert again.duplicate, "a delivery started again finds it sent and sends nothing"
    mails = mail_for(real_parts.mail_dir, order_id)
    by_event = {str(m["X-Delivery-Key"]).split("/")[1]: m for m in mails}
    assert len(mails) == 9 and set(by_event) == {*CUSTOMER_EVENTS, "review_required"}
    for event in CUSTOMER_EVENTS:
        mail = by_event[event]
        assert mail["To"] == f"grace-{order_id}@example.com"
        assert mail["Message-ID"].strip() == f"<{order_id}.{event}.email@example.com>"
        plain, html = text_of(mail)
        assert "Hello Grace Hopper," in plain and "Hello Grace Hopper," in html
        assert "2 \u00d7 T-shirt, blue (TSHIRT-BLUE-M)  50.00 EUR" in plain
        assert "Total: 62.00 EUR" in plain and "62.00 EUR" in html
    subjects = {event: str(mail["Subject"]) for event, mail in by_event.items()}
    assert subjects["order_confirmed"] == f"Order {order_id} is confirmed"
    assert subjects["order_shipped"] == f"Order {order_id} has shipped"
    assert subjects["refund_issued"] == f"Refund of 12.00 EUR for order {order_id}"
    assert f"Order {order_id} — confirmed" in text_of(by_event["order_confirmed"])[0]
    shipped, shipped_html = text_of(by_event["order_shipped"])
    assert "tracking number JD014600006281" in shipped
    assert "<b>JD014600006281</b>" in shipped_html
    assert "JD014600006281" not in text_of(by_event["order_cancelled"])[0]
    assert "changed my mind" in text_of(by_event["order_cancelled"])[0]
    assert "Refunded: <b>12.00 EUR</b>" in text_of(by_event["refund_issued"])[1]
    assert "declined" in text_of(by_event["payment_failed"])[0]
    review = by_event["review_required"]
    assert review["To"] == "ops@example.com" and "needs review" in str(review["Subject"])

    listed = await api.get(f"/v1/orders/{order_id}/notifications", headers=await operator(api))
    assert listed.status_code == 200, listed.text
    deliveries = listed.json()
    assert len(deliveries) == 9
    assert {(d["status"], d["attempts"], d["last_error"]) for d in deliveries} == {
        ("sent", 1, None)
    }
    assert all(d["sent_at"] for d in deliveries)
    assert {d["occurrence"] for d in deliveries} == {1}


async def test_an_email_sent_while_smtp_is_down_arrives_once_it_is_back(
    temporal: Client, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    port, mail_dir = free_port(), tmp_path / "mail"

    def start_sink() -> Any:
        return start_smtp_sink(port=port, mail_dir=mail_dir, log_file=tmp_path / "smtp.log")

    sink = await asyncio.to_thread(start_sink)
    order_id = await place_order(engine)
    async with notification_workers(temporal, settings, smtp_port=port) as queue:
        await asyncio.to_thread(sink.stop)
        started = asyncio.create_task(deliver(temporal, queue, order_id, "order_shipped"))
        for _ in range(100):  # a few refused connections, recorded as they happen
            state = await row(engine, order_id, "order_shipped", "email")
            if state["attempts"] >= 3 and state["last_error"]:
                break
            await asyncio.sleep(0.1)
        assert state["status"] == "pending"
        assert "connect" in state["last_error"].lower()

        sink = await asyncio.to_thread(start_sink)
        try:
            result = await asyncio.wait_for(started, timeout=30)
            mail = await wait_for_mail(mail_dir, lambda m: order_id in str(m["Subject"]))
        finally:
            await asyncio.to_thread(sink.stop)

    assert result.status == "sent"
    assert "tracking number JD014600006281" in text_of(mail)[0]
    assert len(read_mailbox(mail_dir)) == 1
    state = await row(engine, order_id, "order_shipped", "email")
    assert state["status"] == "sent" and state["attempts"] >= 3 and state["sent_at"]


class SlowQuitHandler(MailDirHandler):
    """The sink's handler, with a QUIT that hangs longer than a send attempt may take."""

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(10)
        return "221 Bye"


class HeldAfterDataHandler(MailDirHandler):
    """The sink's handler which, once it has stored a message and before it answers 250,
    has `hold` (run on the test's loop) lock the delivery's row: the attempt's write of the
    acceptance then waits past the attempt's timeout."""

    def __init__(
        self,
        mail_dir: Path,
        hold: Callable[[], Coroutine[Any, Any, None]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(mail_dir)
        self._hold, self._loop = hold, loop

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._hold(), self._loop))
        return answer


async def send_once(
    temporal: Client, settings: Settings, order_id: str, handler: MailDirHandler
) -> tuple[DeliveryResult, list[Any]]:
    """The order's order_confirmed email (a regular activity, 2 s per attempt) through
    `handler`; its result and history."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with notification_workers(temporal, settings, smtp_port=port) as queue:
            handle = await temporal.start_workflow(
                NotificationWorkflow.run,
                NotificationRequest(
                    order_id=order_id,
                    event="order_confirmed",
                    channel="email",
                    policy=FAST.model_copy(update={"attempt_timeout": timedelta(seconds=2)}),
                ),
                id=notification_id(order_id, "order_confirmed", "email"),
                task_queue=queue,
            )
            result = await asyncio.wait_for(handle.result(), timeout=60)
            history = [e async for e in handle.fetch_history_events()]
    finally:
        await asyncio.to_thread(controller.stop)
    return result, history


def attempts_started(history: list[Any]) -> int:
    started = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    return int(started[-1].activity_task_started_event_attributes.attempt)


async def test_a_send_that_times_out_after_the_server_accepted_delivers_exactly_once(
    temporal: Client, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The server took the message, and the attempt timed out while recording that (a
    stalled worker or database): the retry finds the delivery sent and sends nothing."""
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    order_id = await place_order(engine)
    held: list[asyncio.Task[None]] = []

    async def hold() -> None:
        conn = await engine.connect()
        await conn.begin()
        await conn.execute(
            select(notifications.c.status)
            .where(notifications.c.order_id == order_id)
            .with_for_update()
        )

        async def release() -> None:
            await asyncio.sleep(4)  # twice the attempt's timeout
            await conn.rollback()
            await conn.close()

        held.append(asyncio.create_task(release()))

    handler = HeldAfterDataHandler(mail_dir, hold, asyncio.get_running_loop())

    result, history = await send_once(temporal, settings, order_id, handler)
    await asyncio.gather(*held)

    timeouts = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT]
    assert attempts_started(history) >= 2, "it was retried"
    assert not timeouts  # retried within the activity's schedule-to-close, then succeeded
    assert result.status == "sent" and result.duplicate
    assert len(read_mailbox(mail_dir)) == 1
    state = await row(engine, order_id, "order_confirmed", "email")
    assert state["status"] == "sent" and state["attempts"] == 1


async def test_a_relay_whose_quit_hangs_does_not_hold_the_send(
    temporal: Client, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The session is kept for the next message, and quit later off the send's path."""
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    order_id = await place_order(engine)

    result, history = await send_once(temporal, settings, order_id, SlowQuitHandler(mail_dir))

    assert attempts_started(history) == 1
    assert result.status == "sent" and not result.duplicate
    assert len(read_mailbox(mail_dir)) == 1
    state = await row(engine, order_id, "order_confirmed", "email")
    assert state["status"] == "sent" and state["attempts"] == 1


async def test_a_worker_that_stops_quits_its_smtp_sessions_at_once(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> None:
    """A kept session (idle for up to 5 s) is quit when the worker stops, not left open."""
    order_id = await place_order(engine)
    relay, port = Relay(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with notification_workers(temporal, settings, smtp_port=port) as queue:
            result = await deliver(temporal, queue, order_id, "order_confirmed")
            kept = relay.quits
        stopped = relay.quits
    finally:
        await asyncio.to_thread(controller.stop)

    assert result.status == "sent"
    assert (kept, stopped) == (0, 1)


async def test_two_workers_share_the_deliveries_without_duplicates(
    temporal: Client, settings: Settings, engine: AsyncEngine, real_parts: RealParts
) -> None:
    order_ids = [await place_order(engine) for _ in range(3)]

    async with notification_workers(temporal, settings, copies=2) as queue:
        work = [(o, e) for o in order_ids for e in CUSTOMER_EVENTS]
        handles = [
            await temporal.start_workflow(
                NotificationWorkflow.run,
                NotificationRequest(order_id=o, event=e, channel="email", policy=FAST),
                id=notification_id(o, e, "email"),
                task_queue=queue,
            )
            for o, e in work
        ]
        results = await asyncio.gather(*(h.result() for h in handles))
        identities = {
            e.activity_task_started_event_attributes.identity
            for h in handles
            async for e in h.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        }

    assert [r.status for r in results] == ["sent"] * len(work)
    assert identities == {"notifications-0", "notifications-1"}
    keys = [str(m["X-Delivery-Key"]) for o in order_ids for m in mail_for(real_parts.mail_dir, o)]
    assert sorted(keys) == sorted(f"{o}/{e}/email" for o, e in work)


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The merchant's side, as the README shows it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp, received = int(parts["t"]), parts["v1"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected.hexdigest(), received)


@asynccontextmanager
async def http_stand_in(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A local HTTP server on a free port, in this event loop; yields its URL."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def test_merchant_webhooks_are_signed_and_each_event_is_accepted_once(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> None:
    """A request naming the webhook channel (as the order named channels before the registry)
    goes to the merchant's endpoints like any other: each event once, a refused attempt
    retried with the same event id and body."""
    requests: list[tuple[bool, str, dict[str, Any]]] = []
    accepted: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        valid = verify(WEBHOOK_SECRET, request.headers["X-Signature"], body)
        event = json.loads(body)
        requests.append((valid, request.headers["X-Event-Id"], event))
        if not valid:
            return web.Response(status=400)
        if (
            event["type"] == "order_shipped"
            and [e["id"] for _, _, e in requests].count(event["id"]) == 1
        ):
            return web.Response(status=503)  # the merchant is briefly down: retried
        accepted.append(event["id"])
        return web.Response(status=204)

    order_id = await place_order(engine)
    endpoints = EndpointStore(engine)
    async with (
        http_stand_in(receive) as url,
        notification_workers(temporal, settings, webhook_allow_loopback_http=True) as queue,
    ):
        made = await endpoints.create(url=url, events=["*"], description="", secret=WEBHOOK_SECRET)
        try:
            results = await asyncio.gather(
                *(deliver(temporal, queue, order_id, e, "webhook") for e in CUSTOMER_EVENTS)
            )
            again = await deliver(temporal, queue, order_id, "order_delivered", "webhook")
            logged = await endpoints.deliveries(made["id"], status=None, limit=100, after=None)
        finally:
            await endpoints.delete(made["id"])

    assert [r.status for r in results] == ["sent"] * len(CUSTOMER_EVENTS)
    assert again.duplicate
    assert all(valid and header == e["id"] for valid, header, e in requests)
    assert sorted(accepted) == sorted(event_id(order_id, e, 1) for e in CUSTOMER_EVENTS)
    assert len(requests) == len(CUSTOMER_EVENTS) + 1  # one 503, redelivered with the same id
    shipped = [e for _, _, e in requests if e["type"] == "order_shipped"]
    assert shipped[0] == shipped[1]
    event = shipped[1]
    assert event["data"]["order"]["id"] == order_id
    assert event["data"]["order"]["total"] == {"amount": 6200, "currency": "EUR"}
    assert event["data"]["event"]["tracking_number"] == "JD014600006281"
    assert event["created_at"].endswith("Z")
    [shipped_log] = [d for d in logged if d["event"] == "order_shipped"]
    attempts = [(a["status_code"], a["error"]) for a in shipped_log["attempts"]]
    assert shipped_log["status"] == "sent" and attempts == [(503, "HTTP 503"), (204, None)]
    assert (await row(engine, order_id, "order_shipped", "webhook"))["status"] is None


async def test_sms_goes_through_the_provider_and_a_customer_without_phone_fails_clearly(
    temporal: Client, settings: Settings, engine: AsyncEngine
) -> None:
    texts: list[tuple[str, str, dict[str, str]]] = []

    async def provider(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {SMS_TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.json()
        texts.append((request.headers["Idempotency-Key"], body["body"], body))
        return web.json_response({"id": f"sms_{len(texts)}"}, status=201)

    with_phone, without_phone = await place_order(engine), await place_order(engine, phone=None)
    async with (
        http_stand_in(provider) as url,
        notification_workers(
            temporal, settings, sms_provider_url=url, sms_provider_token=SecretStr(SMS_TOKEN)
        ) as queue,
    ):
        sent = await deliver(temporal, queue, with_phone, "order_shipped", "sms")
        failed = await deliver(temporal, queue, without_phone, "order_shipped", "sms")

    assert sent.status == "sent" and failed.status == "failed"
    [(key, text, body)] = texts
    assert key == f"{with_phone}/order_shipped/sms"
    assert body["to"] == "+44 20 7946 0000"
    assert text == f"Order {with_phone} has shipped with DHL, tracking JD014600006281."
    state = await row(engine, without_phone, "order_shipped", "sms")
    assert state["status"] == "failed" and state["attempts"] == 1
    assert state["last_error"] == f"NoPhoneNumber: customer cus_{without_phone} has no phone"


@pytest.mark.parametrize(
    ("email", "refused"),
    [
        (
            "grace@example.com\r\nBcc: all@example.com",
            "UnsafeHeader: the To header holds a line break or control character",
        ),
        (
            "grace hopper@example.com",
            "EmailRejected: an address of the message cannot be sent over SMTP",
        ),
    ],
    ids=["header-injection", "space-in-address"],
)
async def test_an_address_no_attempt_can_send_fails_at_once_and_sends_nothing(
    temporal: Client,
    settings: Settings,
    engine: AsyncEngine,
    real_parts: RealParts,
    email: str,
    refused: str,
) -> None:
    """A customer row the API would never write (an import, another writer): its email
    address carries a line break and a Bcc header, or a space aiosmtplib refuses on the SMTP
    command line. The message is refused before anything is sent, and for good: the same
    text fails every attempt, so the delivery fails after one instead of retrying for its
    window."""
    order_id = await place_order(engine, email=email)

    async with notification_workers(temporal, settings) as queue:
        result = await deliver(temporal, queue, order_id, "order_shipped")

    assert result.status == "failed"
    state = await row(engine, order_id, "order_shipped", "email")
    assert state["status"] == "failed" and state["attempts"] == 1
    assert str(state["last_error"]).startswith(refused)
    assert mail_for(real_parts.mail_dir, order_id) == []


async def test_two_partial_refunds_through_the_api_send_two_emails(
    api: httpx.AsyncClient, real_parts: RealParts
) -> None:
    """The whole stack: each refund the order issues is its own notification (occurrence 1
    and 2), so the customer gets one email per refund, each with its own amount."""
    owner, op = await customer(api), await operator(api)
    placed = await api.post("/v1/orders", json=order_body({"TSHIRT-BLUE-M": 2}), headers=owner)
    order_id = placed.json()["id"]
    await wait_for_status(api, owner, order_id, "confirmed")
    shipped = await api.post(
        f"/v1/orders/{order_id}/shipments",
        headers=op,
        json={"carrier": "DHL", "tracking_number": "JD014600006281"},
    )
    assert shipped.status_code == 200, shipped.text

    for amount, reason in ((1500, "late"), (1000, "scratched")):
        refunded = await api.post(
            f"/v1/orders/{order_id}/refunds",
            headers=op,
            json={"amount": {"amount": amount, "currency": "EUR"}, "reason": reason},
        )
        assert refunded.status_code == 200, refunded.text

    def refund_mail(occurrence: int) -> Callable[[EmailMessage], bool]:
        suffix = "" if occurrence == 1 else f".{occurrence}"
        wanted = f"<{order_id}.refund_issued.email{suffix}@"
        return lambda m: str(m["Message-ID"]).strip().startswith(wanted)

    first = await wait_for_mail(real_parts.mail_dir, refund_mail(1), timeout=30)
    second = await wait_for_mail(real_parts.mail_dir, refund_mail(2), timeout=30)
    assert str(first["Subject"]) == f"Refund of 15.00 EUR for order {order_id}"
    assert str(second["Subject"]) == f"Refund of 10.00 EUR for order {order_id}"
    assert "(late)" in text_of(first)[0] and "(scratched)" in text_of(second)[0]
    assert "Refunded: 10.00 EUR (25.00 EUR in total)" in text_of(second)[0]
    refunds = [m for m in mail_for(real_parts.mail_dir, order_id) if "Refund" in m["Subject"]]
    assert len(refunds) == 2

    listed = await api.get(f"/v1/orders/{order_id}/notifications", headers=op)
    emails = [d for d in listed.json() if d["event"] == "refund_issued" and d["channel"] == "email"]
    assert sorted(d["occurrence"] for d in emails) == [1, 2]


async def split_order(engine: AsyncEngine) -> str:
    """An order shipped in two parcels (S-1 the T-shirts, S-2 the mug) with a return R-1 of
    the mug requested, and the timeline each event left, as the read model holds them."""
    order_id = await place_order(engine)
    now = datetime.now(UTC)
    parcels = [("DHL", "JD014600006281", "TSHIRT-BLUE-M", 2), ("UPS", "1Z9991012", "MUG-WHITE", 1)]
    shipments = [
        ShipmentRecord(
            id=f"S-{number}",
            carrier=carrier,
            tracking_number=tracking,
            lines=[UnitsRecord(sku=sku, quantity=quantity)],
            shipped_at=now,
        )
        for number, (carrier, tracking, sku, quantity) in enumerate(parcels, start=1)
    ]
    returned = ReturnRecord(
        id="R-1",
        status="requested",
        lines=[UnitsRecord(sku="MUG-WHITE", quantity=1)],
        reason="chipped",
        requested_at=now,
    )
    async with engine.begin() as conn:
        await conn.execute(
            order_events.delete().where(
                order_events.c.order_id == order_id, order_events.c.type == "order_shipped"
            )
        )
        await conn.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(
                status="delivered",
                shipments=[s.model_dump(mode="json") for s in shipments],
                returns=[returned.model_dump(mode="json")],
            )
        )
    for shipment in shipments:
        lines = [units.model_dump() for units in shipment.lines]
        data = OrderShipped(shipment.carrier, shipment.tracking_number, shipment.id, lines)
        await add_event(engine, order_id, "order_shipped", data.data())
    lines = [units.model_dump() for units in returned.lines]
    requested = ReturnRequested(returned.id, lines, returned.reason)
    await add_event(engine, order_id, "return_requested", requested.data())
    return order_id


async def test_each_shipment_and_each_return_is_an_email_of_its_own_naming_it(
    temporal: Client, settings: Settings, engine: AsyncEngine, real_parts: RealParts
) -> None:
    order_id = await split_order(engine)
    notified = [("order_shipped", 1), ("order_shipped", 2), ("return_requested", 1)]
    second = await NotificationStore(engine).summary(order_id, "order_shipped", 2)
    assert second.event_data["shipment_id"] == "S-2"
    assert [s.id for s in second.shipments] == ["S-1", "S-2"] and second.returns[0].id == "R-1"

    async with notification_workers(temporal, settings) as queue:
        results = [
            await temporal.execute_workflow(
                NotificationWorkflow.run,
                NotificationRequest(
                    order_id=order_id,
                    event=event,
                    customer_id=f"cus_{order_id}",
                    occurrence=occurrence,
                    policy=FAST,
                ),
                id=event_notification_id(order_id, event, occurrence),
                task_queue=queue,
                execution_timeout=timedelta(minutes=2),
            )
            for event, occurrence in notified
        ]

    assert [r.status for r in results] == ["sent"] * 3
    by_id = {m["Message-ID"].strip(): m for m in mail_for(real_parts.mail_dir, order_id)}
    first = by_id[f"<{order_id}.order_shipped.email@example.com>"]
    second = by_id[f"<{order_id}.order_shipped.email.2@example.com>"]
    returned = by_id[f"<{order_id}.return_requested.email@example.com>"]
    assert str(first["Subject"]) == f"Part of order {order_id} has shipped"
    assert "This parcel holds 2 \u00d7 T-shirt, blue." in text_of(first)[0]
    assert "tracking number JD014600006281" in text_of(first)[0]
    assert str(second["Subject"]) == f"Order {order_id} has shipped"
    assert "This parcel holds 1 \u00d7 Mug." in text_of(second)[0]
    assert "tracking number 1Z9991012" in text_of(second)[0]
    assert str(returned["Subject"]) == f"Return R-1 for order {order_id} is registered"
    assert "your return R-1 of 1 \u00d7 Mug (chipped)" in text_of(returned)[0]
