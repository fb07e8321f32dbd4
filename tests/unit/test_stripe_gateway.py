"""The Stripe adapter turns Stripe's statuses and errors into the payment port's words: the
real SDK parses canned Stripe answers, served by an HTTP client that never leaves the test."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import stripe

from adapters.settings import Settings
from adapters.stripe_gateway import StripeGateway
from domain.errors import CaptureFailed, CardDeclined, PaymentRefused, RefundFailed
from domain.payments import IntentStatus, PaymentGateway, ProviderUnavailable


class CannedStripe(stripe.HTTPXClient):
    """Answers every request with one status code and JSON body (or raises `error`)."""

    def __init__(self, status: int, body: dict[str, Any], error: Exception | None = None) -> None:
        super().__init__()
        self.answer = (json.dumps(body).encode(), status, {"request-id": "req_test"})
        self.error = error

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        if self.error is not None:
            raise self.error
        return self.answer


def gateway(status: int, body: dict[str, Any], error: Exception | None = None) -> PaymentGateway:
    settings = Settings(_env_file=None, stripe_max_network_retries=0)  # type: ignore[call-arg]
    return StripeGateway(settings, http_client=CannedStripe(status, body, error))


def intent(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "status": status,
        "amount": 4200,
        "currency": "eur",
        "client_secret": "pi_1_secret",
        "metadata": {"order_id": "ord_1"},
        **fields,
    }


def stripe_error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


@pytest.mark.parametrize(
    ("stripe_status", "status"),
    [
        ("requires_payment_method", IntentStatus.FAILED),
        ("requires_confirmation", IntentStatus.FAILED),
        ("requires_action", IntentStatus.ACTION_REQUIRED),
        ("processing", IntentStatus.PROCESSING),
        ("requires_capture", IntentStatus.AUTHORIZED),
        ("succeeded", IntentStatus.CAPTURED),
        ("canceled", IntentStatus.VOIDED),
        ("a_status_stripe_adds_later", IntentStatus.PROCESSING),
    ],
)
async def test_each_stripe_status_reads_as_a_neutral_one(
    stripe_status: str, status: IntentStatus
) -> None:
    state = await gateway(200, intent(stripe_status)).retrieve("pi_1")
    assert state.status is status
    assert (state.id, state.amount, state.currency, state.order_id) == (
        "pi_1",
        4200,
        "EUR",
        "ord_1",
    )


async def test_the_last_payment_error_is_the_explanation() -> None:
    failed = intent(
        "requires_payment_method", last_payment_error={"message": "authentication failed"}
    )
    state = await gateway(200, failed).retrieve("pi_1")
    assert (state.status, state.error) == (IntentStatus.FAILED, "authentication failed")


async def test_a_card_error_is_a_decline() -> None:
    body = stripe_error("card_error", "Your card was declined.")
    with pytest.raises(CardDeclined, match="Your card was declined"):
        await gateway(402, body).authorize(
            amount=4200,
            currency="EUR",
            payment_method="pm_card_chargeDeclined",
            order_id="ord_1",
            idempotency_key="k",
        )


async def test_a_request_stripe_refuses_is_the_operations_final_refusal() -> None:
    body = stripe_error("invalid_request_error", "This PaymentIntent could not be captured")
    refused = gateway(400, body)
    with pytest.raises(CaptureFailed):
        await refused.capture("pi_1", amount=4200, idempotency_key="k")
    with pytest.raises(RefundFailed):
        await refused.refund("pi_1", amount=100, idempotency_key="k")
    with pytest.raises(PaymentRefused) as voided:
        await refused.void("pi_1", idempotency_key="k")
    assert type(voided.value) is PaymentRefused
    assert voided.value.code == "payment-refused"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, stripe_error("rate_limit_error", "Too many requests"), None),
        (500, stripe_error("api_error", "Something went wrong"), None),
        (200, {}, stripe.APIConnectionError("connection reset")),
    ],
    ids=["rate-limited", "server-error", "no-connection"],
)
async def test_an_outage_is_unavailable_to_be_retried(
    status: int, body: dict[str, Any], error: Exception | None
) -> None:
    with pytest.raises(ProviderUnavailable):
        await gateway(status, body, error).capture("pi_1", amount=4200, idempotency_key="k")
