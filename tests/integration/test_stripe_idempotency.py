"""The idempotency keys the Stripe SDK actually sends, recorded on the wire to localstripe."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
import stripe
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.payments import IntentCommand, PaymentActivities
from adapters.settings import Settings
from adapters.stripe_gateway import StripeGateway
from domain.payments import IntentStatus
from workflows.contracts import PaymentCommand, PaymentInput
from workflows.payment import PaymentWorkflow

pytestmark = pytest.mark.integration


class RecordingClient(stripe.HTTPXClient):
    """Sends every request for real and records (method, path, Idempotency-Key); the first
    POST to `fail_after` is answered with a connection error *after* Stripe received it,
    as when a worker dies between Stripe's answer and recording it."""

    def __init__(self, fail_after: str | None = None) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, str | None]] = []
        self._fail_after = fail_after

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        answer = await super().request_async(method, url, headers, post_data)
        path = url.split("://", 1)[1].split("/", 1)[1]
        self.sent.append((method.upper(), "/" + path, headers.get("Idempotency-Key")))
        if self._fail_after and self._fail_after in path and method.lower() == "post":
            self._fail_after = None
            raise stripe.APIConnectionError("connection reset after the request was sent")
        return answer


async def test_a_retried_authorization_and_a_capture_carry_workflow_derived_keys(
    temporal: Client,
    settings: Settings,
) -> None:
    recorder = RecordingClient(fail_after="payment_intents")
    acts = PaymentActivities(StripeGateway(settings, http_client=recorder))
    queue = f"payments-{uuid.uuid4()}"
    order_id = f"ord_{uuid.uuid4().hex[:12]}"
    async with Worker(
        temporal,
        task_queue=queue,
        workflows=[PaymentWorkflow],
        activities=[acts.authorize_payment, acts.capture_payment],
    ):
        handle = await temporal.start_workflow(
            PaymentWorkflow.run,
            PaymentInput(
                order_id=order_id,
                customer_id="usr_1",
                amount=4200,
                currency="EUR",
                payment_method="pm_card_visa",
                action_timeout=timedelta(minutes=5),
            ),
            id=f"payment-{order_id}",
            task_queue=queue,
        )
        for _ in range(100):
            if (await handle.query(PaymentWorkflow.summary)).status == "authorized":
                break
            await asyncio.sleep(0.1)
        await handle.signal(PaymentWorkflow.command, PaymentCommand(kind="capture", amount=4200))
        await handle.signal(PaymentWorkflow.command, PaymentCommand(kind="close"))
        summary = await handle.result()

    posts = [(path, key) for method, path, key in recorder.sent if method == "POST"]
    key = f"payment-{order_id}"
    assert posts[0] == ("/v1/payment_intents", f"{key}:authorize:1")
    assert posts[1] == ("/v1/payment_intents", f"{key}:authorize:1")  # the retry, same key
    assert posts[2][0].endswith("/capture") and posts[2][1] == f"{key}:capture:1"
    assert summary.captured == 4200
    run_id = handle.result_run_id or ""
    assert all(run_id not in (k or "") for _, k in posts)


async def test_a_capture_retried_after_its_answer_was_lost_reports_the_capture(
    settings: Settings,
) -> None:
    """localstripe, like Stripe once a key has expired, refuses to capture an intent twice:
    the retry of a capture whose first attempt took it reports the captured intent, not a
    failure (the order would stay unshipped with the money taken). A refusal that left the
    intent uncaptured is still final."""
    gateway = StripeGateway(settings)
    acts = PaymentActivities(gateway)
    step = ActivityEnvironment()
    order_id = f"ord_{uuid.uuid4().hex[:12]}"

    async def authorized(n: int) -> str:
        state = await gateway.authorize(
            amount=4200,
            currency="EUR",
            payment_method="pm_card_visa",
            order_id=order_id,
            idempotency_key=f"test-{order_id}:authorize:{n}",
        )
        return state.id

    intent_id = await authorized(1)
    capture = IntentCommand(intent_id=intent_id, amount=4200, idempotency_key=f"{order_id}:c:1")
    first = await step.run(acts.capture_payment, capture)
    again = await step.run(acts.capture_payment, capture)  # the first one's answer "lost"
    assert first.status == again.status == IntentStatus.CAPTURED

    uncaptured = await authorized(2)
    too_much = IntentCommand(intent_id=uncaptured, amount=9999, idempotency_key=f"{order_id}:c:2")
    with pytest.raises(ApplicationError) as refused:  # refused, and still not captured
        await step.run(acts.capture_payment, too_much)
    assert refused.value.non_retryable and refused.value.type == "payment-capture-failed"
