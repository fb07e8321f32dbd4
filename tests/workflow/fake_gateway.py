"""An in-memory payment provider behind the payment port (`domain/payments.py`).

Workflow tests run the real `PaymentActivities` over this double, so the activities' own
rules (a refusal is final, an outage is retried, the amount is checked) are under test too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from domain.errors import CaptureFailed, CardDeclined, PaymentRefused, RefundFailed
from domain.payments import IntentState, IntentStatus

VOIDABLE = {IntentStatus.AUTHORIZED, IntentStatus.ACTION_REQUIRED, IntentStatus.FAILED}


@dataclass
class Script:
    """How the doubles answer one order, by order id (the model test draws one per order).

    `authorize`: `authorize`, `decline` or `three_d_secure` (the intent waits for the
    customer: `FakeGateway.complete_action` or `fail_action` settle it). `refuse`: provider
    calls refused for good. `transient`: activity name -> how many attempts fail with a
    retryable error before one goes through."""

    authorize: str = "authorize"
    refuse: frozenset[str] = frozenset()
    transient: dict[str, int] = field(default_factory=dict)


@dataclass
class FakeIntent:
    """The double's payment intent, kept by a card provider's rules: manual capture once,
    refunds up to the captured amount, and an idempotency key seen before answers its first
    answer again."""

    order_id: str
    amount: int
    status: IntentStatus
    captured: int = 0
    refunded: int = 0
    effects: list[tuple[str, str, int]] = field(default_factory=list)
    """(operation, idempotency key, amount) of every call that changed the intent."""
    answers: dict[str, IntentState | str] = field(default_factory=dict)

    def state(self) -> IntentState:
        failed = self.status == IntentStatus.FAILED
        return IntentState(
            id=f"pi_{self.order_id}",
            status=self.status,
            amount=self.amount,
            currency="EUR",
            client_secret="pi_fake_secret",
            error="the customer failed 3-D Secure" if failed else None,
            order_id=self.order_id,
        )

    def count(self, operation: str) -> int:
        return sum(1 for op, _, _ in self.effects if op == operation)


@dataclass
class FakeGateway:
    """A `PaymentGateway` that records every call, so tests can assert what was asked."""

    gateway_calls: list[tuple[str, str]] = field(default_factory=list)
    """(operation, idempotency key) of every write, in order."""
    intents: dict[str, FakeIntent] = field(default_factory=dict)
    """By order id."""
    scripts: dict[str, Script] = field(default_factory=dict)
    """By order id; orders without one follow `intent_status` and `decline`."""
    intent_status: IntentStatus = IntentStatus.AUTHORIZED
    decline: bool = False
    intent_amount: int = 0

    def complete_action(self, order_id: str) -> None:
        """The customer passed 3-D Secure: the intent now waits for capture."""
        self.intents[order_id].status = IntentStatus.AUTHORIZED

    def fail_action(self, order_id: str) -> None:
        """The customer failed 3-D Secure: a new payment method would be needed."""
        self.intents[order_id].status = IntentStatus.FAILED

    def _flaky(self, name: str, order_id: str) -> None:
        """Fail with a retryable error while the order's script asks for it. An outage is
        what the activities let through; this one asks to be retried in 50 ms (time stands
        still while a test waits on an update)."""
        script = self.scripts.get(order_id)
        if script is not None and script.transient.get(name, 0) > 0:
            script.transient[name] -= 1
            raise ApplicationError(
                f"{name}: service unavailable (transient)",
                type="Unavailable",
                next_retry_delay=timedelta(milliseconds=50),
            )

    def _refuses(self, operation: str, order_id: str) -> bool:
        script = self.scripts.get(order_id)
        return script is not None and operation in script.refuse

    def _intent(self, intent_id: str) -> FakeIntent:
        intent = self.intents.get(intent_id.removeprefix("pi_"))
        if intent is None:
            raise PaymentRefused(f"no such payment intent: {intent_id}")
        return intent

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        order_id: str,
        idempotency_key: str,
    ) -> IntentState:
        self.gateway_calls.append(("authorize", idempotency_key))
        self._flaky("authorize_payment", order_id)
        self.intent_amount = amount
        script = self.scripts.get(order_id)
        if self.decline if script is None else script.authorize == "decline":
            raise CardDeclined("Your card was declined.")
        intent = self.intents.get(order_id)
        if intent is None:
            status = self.intent_status
            if script is not None:
                three_ds = script.authorize == "three_d_secure"
                status = IntentStatus.ACTION_REQUIRED if three_ds else IntentStatus.AUTHORIZED
            intent = FakeIntent(order_id=order_id, amount=amount, status=status)
            intent.effects.append(("authorize", idempotency_key, amount))
            self.intents[order_id] = intent
        return intent.state()

    async def retrieve(self, intent_id: str) -> IntentState:
        intent = self._intent(intent_id)
        self._flaky("refresh_payment", intent.order_id)
        unscripted = intent.order_id not in self.scripts
        if unscripted and intent.status == IntentStatus.ACTION_REQUIRED:
            intent.status = self.intent_status
        return intent.state()

    def _write(
        self, operation: str, intent_id: str, key: str, refusal: type[PaymentRefused]
    ) -> tuple[FakeIntent, IntentState | str | None]:
        """Record a write, find its intent and fail as the script says; answers the intent
        and the first answer to `key` if it was seen before."""
        self.gateway_calls.append((operation, key))
        intent = self._intent(intent_id)
        self._flaky(f"{operation}_payment", intent.order_id)
        answer = intent.answers.get(key)
        if answer is None and self._refuses(operation, intent.order_id):
            raise refusal(f"the provider refused this {operation} (scripted)")
        return intent, answer

    async def capture(self, intent_id: str, *, amount: int, idempotency_key: str) -> IntentState:
        intent, answer = self._write("capture", intent_id, idempotency_key, CaptureFailed)
        if isinstance(answer, IntentState):
            return answer
        if intent.status != IntentStatus.AUTHORIZED:
            raise CaptureFailed(f"cannot capture a payment intent that is {intent.status}")
        if not 0 < amount <= intent.amount:
            raise CaptureFailed(f"cannot capture {amount} of {intent.amount}")
        intent.status = IntentStatus.CAPTURED
        intent.captured = amount
        intent.effects.append(("capture", idempotency_key, amount))
        answer = replace(intent.state(), amount=amount)
        intent.answers[idempotency_key] = answer
        return answer

    async def void(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        intent, answer = self._write("void", intent_id, idempotency_key, PaymentRefused)
        if isinstance(answer, IntentState):
            return answer
        if intent.status not in VOIDABLE:
            raise PaymentRefused(f"cannot void a payment intent that is {intent.status}")
        intent.status = IntentStatus.VOIDED
        intent.effects.append(("void", idempotency_key, 0))
        answer = intent.state()
        intent.answers[idempotency_key] = answer
        return answer

    async def refund(self, intent_id: str, *, amount: int, idempotency_key: str) -> str:
        intent, answer = self._write("refund", intent_id, idempotency_key, RefundFailed)
        if isinstance(answer, str):
            return answer
        left = intent.captured - intent.refunded
        if not 0 < amount <= left:
            raise RefundFailed(f"cannot refund {amount}: {left} left")
        intent.refunded += amount
        intent.effects.append(("refund", idempotency_key, amount))
        answer = f"re_{len(self.gateway_calls)}"
        intent.answers[idempotency_key] = answer
        return answer

    async def all_intents(self) -> list[IntentState]:
        return [intent.state() for intent in self.intents.values()]
