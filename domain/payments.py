"""The payment port: what the engine asks of a payment provider, in the engine's own words.

The activities (`activities/payments.py`, `activities/reconciliation.py`) depend only on
`PaymentGateway`; an adapter per provider, in `adapters/`, implements it and is wired in
by the workers. The adapter translates the provider's statuses into
`IntentStatus` and its errors into:

- a `PaymentRefused` subclass (`domain/errors.py`) for a final no: a declined card, a
  request the provider will never accept. The activity reports it, non-retryable;
- `ProviderUnavailable` for an outage (network, rate limit, 5xx): the activity lets it
  through and Temporal retries it.

Adding a provider is one adapter and one line in the composition roots (`workers/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class IntentStatus(StrEnum):
    """Where one payment intent (an authorization and what became of it) stands."""

    ACTION_REQUIRED = "action_required"
    """The customer must act (3-D Secure) before the authorization can finish."""
    PROCESSING = "processing"
    """The provider has not decided yet."""
    AUTHORIZED = "authorized"
    """The amount is held on the card, waiting for capture or void."""
    CAPTURED = "captured"
    """The money was taken."""
    VOIDED = "voided"
    """The authorization was released (by us, or by the provider when the hold expired)."""
    FAILED = "failed"
    """The attempt failed (the customer failed 3-D Secure, the method was refused): a new
    payment method would be needed."""


@dataclass(frozen=True)
class IntentState:
    """What the provider says about one payment intent."""

    id: str
    status: IntentStatus
    amount: int
    """Minor units."""
    currency: str
    """ISO 4217, upper case."""
    client_secret: str | None = None
    """What the customer's browser needs to complete an action (3-D Secure)."""
    error: str | None = None
    """The provider's explanation of the last failure, fit to show the customer."""
    order_id: str | None = None
    """Our order, when the intent was made by this engine."""


class ProviderUnavailable(Exception):
    """The provider could not answer now (network, rate limit, outage): retry later."""


class PaymentGateway(Protocol):
    """A payment provider. Every write carries an idempotency key: the same key sent again
    answers the first answer, so a retry can never charge or refund twice."""

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        order_id: str,
        idempotency_key: str,
    ) -> IntentState:
        """Hold `amount` on the payment method (manual capture): `AUTHORIZED`, or
        `ACTION_REQUIRED` while the customer completes 3-D Secure."""
        ...

    async def retrieve(self, intent_id: str) -> IntentState:
        """The intent as the provider sees it now."""
        ...

    async def capture(self, intent_id: str, *, amount: int, idempotency_key: str) -> IntentState:
        """Take `amount` (at most the authorized amount) of an authorized intent."""
        ...

    async def void(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        """Release an intent that was not captured."""
        ...

    async def refund(self, intent_id: str, *, amount: int, idempotency_key: str) -> str:
        """Give back part or all of a captured intent; answers the refund's id."""
        ...

    async def all_intents(self) -> list[IntentState]:
        """Every intent of the account, for reconciliation with the ledger."""
        ...
