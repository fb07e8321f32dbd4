"""Payment activities (task queue `payments`) over the payment port (`domain/payments.py`):
final refusals are reported non-retryable, outages are retried.

The provider is whatever `PaymentGateway` the worker passes in (`workers/payments.py`); this
module knows none of its words.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from pydantic import BaseModel, field_validator
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.errors import AmountMismatch, CaptureFailed, PaymentRefused
from domain.payments import IntentState, IntentStatus, PaymentGateway

T = TypeVar("T")

STATUSES_RECORDED_BEFORE_THE_PORT = {
    "requires_payment_method": IntentStatus.FAILED,
    "requires_confirmation": IntentStatus.FAILED,
    "requires_action": IntentStatus.ACTION_REQUIRED,
    "requires_capture": IntentStatus.AUTHORIZED,
    "succeeded": IntentStatus.CAPTURED,
    "canceled": IntentStatus.VOIDED,
}
"""Legacy, frozen: the provider's own status words that `IntentResult`s recorded in older
workflow histories carry (before the payment port, the activities passed them on as they
came). Never extend it; a new provider maps its words in its adapter."""


class AuthorizeInput(BaseModel):
    order_id: str
    amount: int
    currency: str
    payment_method: str
    idempotency_key: str


class IntentResult(BaseModel):
    """A payment intent's state after a call, as the payment workflow records it."""

    intent_id: str
    status: IntentStatus
    amount: int
    currency: str
    client_secret: str | None = None
    error: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _read_recorded_status(cls, value: object) -> object:
        """Exists only to read older histories: results recorded before the payment port
        hold the provider's words (`STATUSES_RECORDED_BEFORE_THE_PORT`), and a replay must
        read them as the neutral status the workflow acts on today."""
        if isinstance(value, str):
            return STATUSES_RECORDED_BEFORE_THE_PORT.get(value, value)
        return value


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


async def _final_refusals(call: Awaitable[T]) -> T:
    """A refusal becomes a non-retryable failure typed with its code (`card-declined`,
    ...); anything else (`ProviderUnavailable`, a crash) is retried by Temporal."""
    try:
        return await call
    except PaymentRefused as refusal:
        raise ApplicationError(str(refusal), type=refusal.code, non_retryable=True) from refusal


class PaymentActivities:
    """Each call carries the idempotency key the workflow derived for that operation."""

    def __init__(self, gateway: PaymentGateway) -> None:
        self._gateway = gateway

    @activity.defn
    async def authorize_payment(self, inp: AuthorizeInput) -> IntentResult:
        """Authorize (manual capture); checks the provider held what was asked."""
        state = await _final_refusals(
            self._gateway.authorize(
                amount=inp.amount,
                currency=inp.currency,
                payment_method=inp.payment_method,
                order_id=inp.order_id,
                idempotency_key=inp.idempotency_key,
            )
        )
        if state.amount != inp.amount or state.currency != inp.currency.upper():
            raise ApplicationError(
                f"the provider answered {state.amount} {state.currency}"
                f" for {inp.amount} {inp.currency}",
                type=AmountMismatch.code,
                non_retryable=True,
            )
        return _result(state)

    @activity.defn
    async def capture_payment(self, inp: IntentCommand) -> IntentResult:
        """Capture the authorized amount asked. A refusal of an intent that is captured
        already answers a retry of this very capture whose first attempt took it and lost
        its result (a worker killed, a timeout): a provider that no longer replays the
        key's answer (Stripe after 24 hours, localstripe always) refuses the second
        capture. The intent as it is now is then the result; any other refusal is final."""
        try:
            state = await self._gateway.capture(
                inp.intent_id, amount=inp.amount, idempotency_key=inp.idempotency_key
            )
        except CaptureFailed as refusal:
            state = await _final_refusals(self._gateway.retrieve(inp.intent_id))
            if state.status != IntentStatus.CAPTURED:
                raise ApplicationError(
                    str(refusal), type=refusal.code, non_retryable=True
                ) from refusal
        return _result(state)

    @activity.defn
    async def void_payment(self, inp: IntentCommand) -> IntentResult:
        """Release an uncaptured intent's authorization."""
        return _result(
            await _final_refusals(
                self._gateway.void(inp.intent_id, idempotency_key=inp.idempotency_key)
            )
        )

    @activity.defn
    async def refund_payment(self, inp: IntentCommand) -> RefundResult:
        """Refund part of a captured intent (the key makes retries safe)."""
        refund_id = await _final_refusals(
            self._gateway.refund(
                inp.intent_id, amount=inp.amount, idempotency_key=inp.idempotency_key
            )
        )
        return RefundResult(refund_id=refund_id, amount=inp.amount)

    @activity.defn
    async def refresh_payment(self, intent_id: str) -> IntentResult:
        """Re-read an intent (after a webhook) to act on its real status. Outages are
        retried; a final refusal (the provider will not show it) is reported, so the
        payment ends instead of retrying forever."""
        return _result(await _final_refusals(self._gateway.retrieve(intent_id)))
