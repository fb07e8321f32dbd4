"""The local stack's real parts start, answer their clients, stop, and keep their data.

Every part runs on free ports (someone may be running `make run` on the defaults) and is
stopped in the fixture's teardown.
"""

from __future__ import annotations

import json
import smtplib
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
import stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack.mailbox import read_mailbox, wait_for_mail
from devstack.process import ServiceError
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
from workflows.names import SEARCH_ATTRIBUTES

pytestmark = pytest.mark.integration


@pytest.fixture
def stopped_at_teardown() -> Iterator[list[Service]]:
    """Services a test appends here are stopped when it ends, whatever happens."""
    services: list[Service] = []
    yield services
    for service in reversed(services):
        service.stop(grace=5)


def send(port: int, subject: str, to: str = "ada@example.com") -> None:
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(f"Body of {subject}")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


async def test_smtp_sink_stores_messages_in_arrival_order_and_keeps_them_after_restart(
    tmp_path: Path, stopped_at_teardown: list[Service]
) -> None:
    mail_dir = tmp_path / "mail"
    port = free_port()
    sink = start_smtp_sink(port=port, mail_dir=mail_dir, log_file=tmp_path / "smtp.log")
    stopped_at_teardown.append(sink)

    send(port, "Order received")
    send(port, "Order shipped", to="grace@example.com")

    messages = read_mailbox(mail_dir)
    assert [m["Subject"] for m in messages] == ["Order received", "Order shipped"]
    assert messages[1]["X-Envelope-To"] == "grace@example.com"
    assert messages[0].get_content().strip() == "Body of Order received"

    sink.stop()
    assert not sink.running()
    port = free_port()
    restarted = start_smtp_sink(port=port, mail_dir=mail_dir, log_file=tmp_path / "smtp.log")
    stopped_at_teardown.append(restarted)
    send(port, "Order delivered")

    delivered = await wait_for_mail(mail_dir, lambda m: m["Subject"] == "Order delivered", 5)
    assert delivered["To"] == "ada@example.com"
    assert len(read_mailbox(mail_dir)) == 3


class _Webhooks(BaseHTTPRequestHandler):
    """Collects what localstripe POSTs, with the signature header Stripe would send."""

    received: list[tuple[bytes, str]] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers["Stripe-Signature"]))
        self.arrived.set()
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _NotStripe(BaseHTTPRequestHandler):
    """Another HTTP server on localstripe's port, answering as Temporal's HTTP API did."""

    def do_GET(self) -> None:
        self.send_response(405)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_localstripe_on_a_port_another_server_took_fails_to_start(tmp_path: Path) -> None:
    """Seen in the chaos run: the dev server took localstripe's port as it started, the old
    probe (any HTTP answer) passed, and every Stripe call got Temporal's 405."""
    other = HTTPServer(("127.0.0.1", 0), _NotStripe)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ServiceError, match="localstripe"):
            start_localstripe(
                port=other.server_port, log_file=tmp_path / "localstripe.log", timeout=15
            )
    finally:
        other.shutdown()
        other.server_close()


async def test_localstripe_serves_the_stripe_sdk_and_delivers_signed_webhooks(
    tmp_path: Path, stopped_at_teardown: list[Service]
) -> None:
    localstripe = start_localstripe(port=free_port(), log_file=tmp_path / "localstripe.log")
    stopped_at_teardown.append(localstripe)
    receiver = HTTPServer(("127.0.0.1", 0), _Webhooks)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    secret = "whsec_test_devstack"
    try:
        receiver_url = f"http://127.0.0.1:{receiver.server_port}/v1/webhooks/stripe"
        register_stripe_webhook(
            localstripe.address, "test", receiver_url, secret, ["payment_intent.succeeded"]
        )
        client = stripe.StripeClient("sk_test_local", base_addresses={"api": localstripe.address})

        intent = client.v1.payment_intents.create(
            params={
                "amount": 2500,
                "currency": "eur",
                "payment_method": "pm_card_visa",
                "capture_method": "manual",
                "confirm": True,
                "metadata": {"order_id": "ord_1"},
            }
        )
        assert intent.status == "requires_capture"
        captured = client.v1.payment_intents.capture(intent.id)
        assert captured.status == "succeeded"

        assert _Webhooks.arrived.wait(10), "localstripe delivered no webhook"
        payload, signature = _Webhooks.received[0]
        event = stripe.Webhook.construct_event(payload, signature, secret)
        assert event.type == "payment_intent.succeeded"
        assert event.data.object["id"] == intent.id
    finally:
        receiver.shutdown()
        receiver.server_close()


async def test_embedded_postgres_answers_on_its_asyncpg_url(
    tmp_path: Path, stopped_at_teardown: list[Service]
) -> None:
    postgres = start_postgres(tmp_path / "postgres")
    stopped_at_teardown.append(postgres)
    assert postgres.address.startswith("postgresql+asyncpg://postgres@/postgres?host=")

    connection = await asyncpg.connect(postgres.address.replace("+asyncpg", "", 1))
    try:
        assert await connection.fetchval("SELECT 1") == 1
    finally:
        await connection.close()

    name = f"test_{uuid4().hex[:8]}"
    fresh = await ensure_database(postgres.address, name)
    assert await ensure_database(postgres.address, name) == fresh, "a second call is a no-op"
    engine = create_async_engine(fresh)
    try:
        async with engine.connect() as session:
            current = (await session.execute(text("SELECT current_database()"))).scalar_one()
        assert current == name
    finally:
        await engine.dispose()

    postgres.stop()
    assert not postgres.running()


async def _custom_search_attributes(address: str) -> dict[str, int]:
    client = await Client.connect(address)
    answer = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    return dict(answer.custom_attributes)


async def test_temporal_dev_server_registers_search_attributes_and_keeps_data_on_restart(
    tmp_path: Path, stopped_at_teardown: list[Service]
) -> None:
    db_file = tmp_path / "temporal.db"
    port, ui_port = free_port(), free_port()
    temporal = start_temporal(
        port=port, ui_port=ui_port, db_file=db_file, log_file=tmp_path / "temporal.log"
    )
    stopped_at_teardown.append(temporal)
    assert set(SEARCH_ATTRIBUTES) <= set(await _custom_search_attributes(temporal.address))
    client = await Client.connect(temporal.address)
    workflow_id = f"devstack-{uuid4()}"
    await client.start_workflow("NoWorkerNeeded", id=workflow_id, task_queue="nobody-polls")

    temporal.stop()
    assert not temporal.running()
    restarted = start_temporal(
        port=port, ui_port=ui_port, db_file=db_file, log_file=tmp_path / "temporal.log"
    )
    stopped_at_teardown.append(restarted)

    assert set(SEARCH_ATTRIBUTES) <= set(await _custom_search_attributes(restarted.address))
    client = await Client.connect(restarted.address)
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.workflow_type == "NoWorkerNeeded"


def test_stack_banner_is_valid_json_in_the_order_command() -> None:
    """The copy-paste order body must stay valid JSON with the seeded SKU."""
    from devstack.banner import FIRST_SKU, Where, full_banner

    banner = full_banner(
        Where(
            api_url="http://127.0.0.1:8000",
            temporal_address="127.0.0.1:7233",
            temporal_ui_url="http://127.0.0.1:8233",
            database_url="postgresql+asyncpg://postgres@/postgres?host=/tmp",
            stripe_api_base="http://127.0.0.1:8420",
            smtp="127.0.0.1:1025",
            mail_dir=Path(".data/mail"),
            logs_dir=Path(".data/logs"),
            operator_email="operator@example.com",
            operator_password="secret",
        )
    )
    order_line = next(line for line in banner.splitlines() if '"lines"' in line)
    body = json.loads(order_line.split("'")[1])
    assert body["lines"] == [{"sku": FIRST_SKU, "quantity": 1}]
    assert "operator@example.com / secret" in banner
