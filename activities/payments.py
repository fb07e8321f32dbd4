"""Stripe activities (task queue `payments`): declines are final, outages are retried."""

from __future__ import annotations

import stripe
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.stripe_gateway import IntentState, StripeGateway

CARD_DECLINED = "CardDeclined"
AMOUNT_MISMATCH = "AmountMismatch"


class AuthorizeInput(BaseModel):
    order_id: str
    amount: int
    currency: str
    payment_method: str
    idempotency_key: str


class IntentResult(BaseModel):
    """A PaymentIntent's state after a call."""

    intent_id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None = None
    error: str | None = None


class IntentCommand(BaseModel):
    intent_id: str
    amount: int
    idempotency_key: str


class RefundResult(BaseModel):
    refund_id: str
    amount: int


def _result(state: IntentState) -> IntentResult:
    return IntentResult(
        intent_id=state.id,
        status=state.status,
        amount=state.amount,
        currency=state.currency,
        client_secret=state.client_secret,
        error=state.error,
    )


def _raise_for(error: stripe.StripeError) -> None:
    """Card and request errors are final; connection errors, 429 and 5xx are retried."""
    if isinstance(error, stripe.CardError):
        raise ApplicationError(
            error.user_message or "card declined", type=CARD_DECLINED, non_retryable=True
        ) from error
    status = error.http_status or 0
    if isinstance(error, stripe.InvalidRequestError) or (400 <= status < 500 and status != 429):
        raise ApplicationError(
            str(error.user_message or error), type=type(error).__name__, non_retryable=True
        ) from error
    raise error


class PaymentActivities:
    """Each call carries the idempotency key the workflow derived for that operation."""

    def __init__(self, gateway: StripeGateway) -> None:
        self._gateway = gateway

    @activity.defn
    async def authorize_payment(self, inp: AuthorizeInput) -> IntentResult:
        """Create and confirm a manual-capture PaymentIntent; checks what Stripe answered."""
        try:
            state = await self._gateway.authorize(
                amount=inp.amount,
                currency=inp.currency,
                payment_method=inp.payment_method,
                order_id=inp.order_id,
                idempotency_key=inp.idempotency_key,
            )
        except stripe.StripeError as error:
            _raise_for(error)
            raise
        if state.amount != inp.amount or state.currency != inp.currency.upper():
            raise ApplicationError(
                f"Stripe answered {state.amount} {state.currency} for {inp.amount} {inp.currency}",
                type=AMOUNT_MISMATCH,
                non_retryable=True,
            )
        return _result(state)

    @activity.defn
    async def capture_payment(self, inp: IntentCommand) -> IntentResult:
        try:
            return _result(
                await self._gateway.capture(
                    inp.intent_id, amount=inp.amount, idempotency_key=inp.idempotency_key
                )
            )
        except stripe.StripeError as error:
            _raise_for(error)
            raise

    @activity.defn
    async def void_payment(self, inp: IntentCommand) -> IntentResult:
        """Cancel an uncaptured PaymentIntent, releasing the authorization."""
        try:
            return _result(
                await self._gateway.cancel(inp.intent_id, idempotency_key=inp.idempotency_key)
            )
        except stripe.StripeError as error:
            _raise_for(error)
            raise

    @activity.defn
    async def refund_payment(self, inp: IntentCommand) -> RefundResult:
        """Refund part of a captured PaymentIntent (the key makes retries safe)."""
        try:
            refund_id = await self._gateway.refund(
                inp.intent_id, amount=inp.amount, idempotency_key=inp.idempotency_key
            )
        except stripe.StripeError as error:
            _raise_for(error)
            raise
        return RefundResult(refund_id=refund_id, amount=inp.amount)

    @activity.defn
    async def refresh_payment(self, intent_id: str) -> IntentResult:
        """Re-read a PaymentIntent (after a webhook) to act on its real status."""
        return _result(await self._gateway.retrieve(intent_id))
