"""Stripe behind the payment port (`domain/payments.py`): PaymentIntents through the
official SDK, against api.stripe.com or localstripe.

This module (with the webhook route, `api/routes/webhooks.py`) is the only place that knows
Stripe's words: its intent statuses become `IntentStatus`, its errors become the domain's
refusals or `ProviderUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from adapters.settings import Settings
from domain.errors import CaptureFailed, CardDeclined, PaymentRefused, RefundFailed
from domain.payments import IntentState, IntentStatus, ProviderUnavailable

STATUSES = {
    "requires_payment_method": IntentStatus.FAILED,
    # An unconfirmed intent is no payment: this gateway confirms at creation.
    "requires_confirmation": IntentStatus.FAILED,
    "requires_action": IntentStatus.ACTION_REQUIRED,
    "processing": IntentStatus.PROCESSING,
    "requires_capture": IntentStatus.AUTHORIZED,
    "succeeded": IntentStatus.CAPTURED,
    "canceled": IntentStatus.VOIDED,
}
"""Stripe's PaymentIntent statuses; one Stripe adds later reads as not decided yet."""


def _state(intent: stripe.PaymentIntent) -> IntentState:
    data = intent.to_dict()
    error = data.get("last_payment_error") or None
    return IntentState(
        id=data["id"],
        status=STATUSES.get(data["status"], IntentStatus.PROCESSING),
        amount=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        client_secret=data.get("client_secret"),
        error=error.get("message") if isinstance(error, dict) else None,
        order_id=(data.get("metadata") or {}).get("order_id"),
    )


def _translate(error: stripe.StripeError, refusal: type[PaymentRefused]) -> Exception:
    """A card error is a decline and any other 4xx but 429 a final `refusal`; connection
    errors, 429 and 5xx are an outage, retried."""
    if isinstance(error, stripe.CardError):
        return CardDeclined(error.user_message or "card declined")
    status = error.http_status or 0
    if isinstance(error, stripe.InvalidRequestError) or (400 <= status < 500 and status != 429):
        return refusal(str(error.user_message or error))
    return ProviderUnavailable(str(error))


@contextmanager
def _refused_as(refusal: type[PaymentRefused]) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        raise _translate(error, refusal) from error


class StripeGateway:
    """Creates, captures, voids and refunds PaymentIntents; every write is idempotent."""

    def __init__(self, settings: Settings, http_client: stripe.HTTPClient | None = None) -> None:
        self._http = http_client or stripe.HTTPXClient()
        self._client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=settings.stripe_max_network_retries,
            http_client=self._http,
        )

    async def close(self) -> None:
        """Close the HTTP connections kept to Stripe."""
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        order_id: str,
        idempotency_key: str,
    ) -> IntentState:
        """Create and confirm a manual-capture PaymentIntent (authorization only)."""
        with _refused_as(PaymentRefused):
            intent = await self._client.v1.payment_intents.create_async(
                params={  # type: ignore[typeddict-unknown-key]
                    "amount": amount,
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    # Cards only: no redirect-based methods that would need a return_url.
                    "payment_method_types": ["card"],
                    "capture_method": "manual",
                    "confirm": True,
                    "metadata": {"order_id": order_id},
                },
                options={"idempotency_key": idempotency_key},
            )
        return _state(intent)

    async def retrieve(self, intent_id: str) -> IntentState:
        with _refused_as(PaymentRefused):
            return _state(await self._client.v1.payment_intents.retrieve_async(intent_id))

    async def capture(self, intent_id: str, *, amount: int, idempotency_key: str) -> IntentState:
        with _refused_as(CaptureFailed):
            intent = await self._client.v1.payment_intents.capture_async(
                intent_id,
                params={"amount_to_capture": amount},
                options={"idempotency_key": idempotency_key},
            )
        return _state(intent)

    async def void(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        """Cancel the PaymentIntent, releasing the authorization."""
        with _refused_as(PaymentRefused):
            intent = await self._client.v1.payment_intents.cancel_async(
                intent_id, options={"idempotency_key": idempotency_key}
            )
        return _state(intent)

    async def all_intents(self) -> list[IntentState]:
        """Every PaymentIntent of the account, page by page, with our order id if any."""
        found: list[IntentState] = []
        params: dict[str, object] = {"limit": 100}
        while True:
            with _refused_as(PaymentRefused):
                page = await self._client.v1.payment_intents.list_async(params=params)  # type: ignore[arg-type]
            found.extend(_state(intent) for intent in page.data)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id

    async def refund(self, intent_id: str, *, amount: int, idempotency_key: str) -> str:
        """Refund part or all of a captured PaymentIntent; returns the refund id."""
        with _refused_as(RefundFailed):
            refund = await self._client.v1.refunds.create_async(
                params={"payment_intent": intent_id, "amount": amount},
                options={"idempotency_key": idempotency_key},
            )
        return str(refund.id)
