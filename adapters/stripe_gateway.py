"""Stripe PaymentIntents through the official SDK (api.stripe.com or localstripe)."""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from adapters.settings import Settings


@dataclass(frozen=True)
class IntentState:
    """What Stripe says about a PaymentIntent."""

    id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None
    error: str | None = None
    order_id: str | None = None


def _state(intent: stripe.PaymentIntent) -> IntentState:
    data = intent.to_dict()
    error = data.get("last_payment_error") or None
    return IntentState(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        client_secret=data.get("client_secret"),
        error=error.get("message") if isinstance(error, dict) else None,
        order_id=(data.get("metadata") or {}).get("order_id"),
    )


class StripeGateway:
    """Creates, captures, cancels and refunds PaymentIntents; every write is idempotent."""

    def __init__(self, settings: Settings, http_client: stripe.HTTPClient | None = None) -> None:
        self._client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=settings.stripe_max_network_retries,
            http_client=http_client or stripe.HTTPXClient(),
        )

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
        return _state(await self._client.v1.payment_intents.retrieve_async(intent_id))

    async def capture(self, intent_id: str, *, amount: int, idempotency_key: str) -> IntentState:
        intent = await self._client.v1.payment_intents.capture_async(
            intent_id,
            params={"amount_to_capture": amount},
            options={"idempotency_key": idempotency_key},
        )
        return _state(intent)

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        intent = await self._client.v1.payment_intents.cancel_async(
            intent_id, options={"idempotency_key": idempotency_key}
        )
        return _state(intent)

    async def all_intents(self) -> list[IntentState]:
        """Every PaymentIntent of the account, page by page, with our order id if any."""
        found: list[IntentState] = []
        params: dict[str, object] = {"limit": 100}
        while True:
            page = await self._client.v1.payment_intents.list_async(params=params)  # type: ignore[arg-type]
            found.extend(_state(intent) for intent in page.data)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id

    async def refund(self, intent_id: str, *, amount: int, idempotency_key: str) -> str:
        """Refund part or all of a captured PaymentIntent; returns the refund id."""
        refund = await self._client.v1.refunds.create_async(
            params={"payment_intent": intent_id, "amount": amount},
            options={"idempotency_key": idempotency_key},
        )
        return str(refund.id)
