"""In-memory doubles of the activities, registered under the real activity names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notifications import DeliveryResult, FailureInput, NotificationRequest
from activities.orders import (
    PricedLine,
    RecordOrderInput,
    ReserveStockInput,
    ReserveStockResult,
    StockInput,
)
from activities.payments import (
    CARD_DECLINED,
    AuthorizeInput,
    IntentCommand,
    IntentResult,
    RefundResult,
)

PRICES = {"TSHIRT": 2500, "MUG": 1200, "MACHINE": 150_000}

REFUSABLE = ("capture", "void", "refund")
"""Stripe calls a script can make Stripe refuse for good (a non-retryable error)."""


@dataclass
class Script:
    """How the doubles answer one order, by order id (the model test draws one per order).

    `authorize`: `authorize`, `decline` or `three_d_secure` (the intent waits for the
    customer: `Fakes.complete_action` or `Fakes.fail_action` settle it). `refuse`: Stripe
    calls refused for good. `transient`: activity name -> how many attempts fail with a
    retryable error before one goes through."""

    authorize: str = "authorize"
    refuse: frozenset[str] = frozenset()
    transient: dict[str, int] = field(default_factory=dict)


@dataclass
class StripeIntent:
    """The double's PaymentIntent, kept by Stripe's rules: manual capture once, refunds up to
    the captured amount, and an idempotency key seen before answers its first answer again."""

    order_id: str
    amount: int
    status: str
    captured: int = 0
    refunded: int = 0
    effects: list[tuple[str, str, int]] = field(default_factory=list)
    """(operation, idempotency key, amount) of every call that changed the intent."""
    answers: dict[str, IntentResult | RefundResult] = field(default_factory=dict)

    def result(self) -> IntentResult:
        return IntentResult(
            intent_id=f"pi_{self.order_id}",
            status=self.status,
            amount=self.amount,
            currency="EUR",
            client_secret="pi_fake_secret",
            error="the customer failed 3-D Secure"
            if self.status == "requires_payment_method"
            else None,
        )

    def count(self, operation: str) -> int:
        return sum(1 for op, _, _ in self.effects if op == operation)


def refused(message: str) -> ApplicationError:
    """What activities/payments.py raises for a Stripe 4xx: final, never retried."""
    return ApplicationError(message, type="InvalidRequestError", non_retryable=True)


@dataclass
class Fakes:
    """Records every call so tests can assert what the workflows asked for."""

    stock: dict[str, int] = field(default_factory=lambda: {"TSHIRT": 10, "MUG": 10, "MACHINE": 2})
    prices: dict[str, int] = field(default_factory=lambda: dict(PRICES))
    reserved: dict[str, dict[str, int]] = field(default_factory=dict)
    """Stock held per order right now (reserved, neither released nor committed)."""
    reservations: dict[str, dict[str, int]] = field(default_factory=dict)
    """Every order's reservation ever made: reserving again for an order returns it, as the
    real store does."""
    settlements: list[tuple[str, str, int]] = field(default_factory=list)
    """(order id, `released` or `committed`, units) for every release and commit call."""
    released: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    records: list[RecordOrderInput] = field(default_factory=list)
    stripe_calls: list[tuple[str, str]] = field(default_factory=list)
    intents: dict[str, StripeIntent] = field(default_factory=dict)
    """By order id."""
    scripts: dict[str, Script] = field(default_factory=dict)
    """By order id; orders without one follow `intent_status` and `decline`."""
    intent_status: str = "requires_capture"
    decline: bool = False
    sent: list[NotificationRequest] = field(default_factory=list)
    failures: list[FailureInput] = field(default_factory=list)
    smtp_down: bool = False
    fail_release_times: int = 0
    intent_amount: int = 0

    @property
    def statuses(self) -> list[str]:
        return [r.record.status for r in self.records]

    @property
    def timeline(self) -> list[str]:
        return [e.type for r in self.records for e in r.timeline]

    def complete_action(self, order_id: str) -> None:
        """The customer passed 3-D Secure: the intent now waits for capture."""
        self.intents[order_id].status = "requires_capture"

    def fail_action(self, order_id: str) -> None:
        """The customer failed 3-D Secure: Stripe wants another payment method."""
        self.intents[order_id].status = "requires_payment_method"

    def _flaky(self, name: str, order_id: str) -> None:
        """Fail with a retryable error while the order's script asks for it (retried soon:
        time stands still while a test waits on an update)."""
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

    def activities(self) -> dict[str, list[object]]:
        @activity.defn(name="reserve_stock")
        async def reserve_stock(inp: ReserveStockInput) -> ReserveStockResult:
            self._flaky("reserve_stock", inp.order_id)
            if inp.order_id not in self.reservations:
                short = [
                    line.sku for line in inp.lines if self.stock.get(line.sku, 0) < line.quantity
                ]
                if short:
                    return ReserveStockResult(out_of_stock=short)
                for line in inp.lines:
                    self.stock[line.sku] -= line.quantity
                taken = {line.sku: line.quantity for line in inp.lines}
                self.reservations[inp.order_id] = taken
                self.reserved[inp.order_id] = dict(taken)
            return ReserveStockResult(
                lines=[
                    PricedLine(
                        sku=line.sku,
                        name=line.sku.title(),
                        quantity=line.quantity,
                        unit_price=self.prices.get(line.sku, 1000),
                        currency="EUR",
                    )
                    for line in inp.lines
                ]
            )

        @activity.defn(name="release_stock")
        async def release_stock(inp: StockInput) -> int:
            if self.fail_release_times > 0:
                self.fail_release_times -= 1
                raise RuntimeError("database unavailable")
            self._flaky("release_stock", inp.order_id)
            lines = self.reserved.pop(inp.order_id, {})
            for sku, quantity in lines.items():
                self.stock[sku] += quantity
            self.released.append(inp.order_id)
            self.settlements.append((inp.order_id, "released", sum(lines.values())))
            return sum(lines.values())

        @activity.defn(name="commit_stock")
        async def commit_stock(inp: StockInput) -> int:
            self._flaky("commit_stock", inp.order_id)
            self.committed.append(inp.order_id)
            units = sum(self.reserved.pop(inp.order_id, {}).values())
            self.settlements.append((inp.order_id, "committed", units))
            return units

        @activity.defn(name="record_order")
        async def record_order(inp: RecordOrderInput) -> None:
            self._flaky("record_order", inp.record.id)
            self.records.append(inp)

        def intent_of(intent_id: str) -> StripeIntent:
            intent = self.intents.get(intent_id.removeprefix("pi_"))
            if intent is None:
                raise refused(f"No such payment_intent: {intent_id}")
            return intent

        def replayed(intent: StripeIntent, key: str) -> IntentResult | RefundResult | None:
            return intent.answers.get(key)

        @activity.defn(name="authorize_payment")
        async def authorize_payment(inp: AuthorizeInput) -> IntentResult:
            self.stripe_calls.append(("authorize", inp.idempotency_key))
            self._flaky("authorize_payment", inp.order_id)
            self.intent_amount = inp.amount
            script = self.scripts.get(inp.order_id)
            declined = self.decline if script is None else script.authorize == "decline"
            if declined:
                raise ApplicationError(
                    "Your card was declined.", type=CARD_DECLINED, non_retryable=True
                )
            intent = self.intents.get(inp.order_id)
            if intent is None:
                status = self.intent_status
                if script is not None:
                    three_ds = script.authorize == "three_d_secure"
                    status = "requires_action" if three_ds else "requires_capture"
                intent = StripeIntent(order_id=inp.order_id, amount=inp.amount, status=status)
                intent.effects.append(("authorize", inp.idempotency_key, inp.amount))
                self.intents[inp.order_id] = intent
            return intent.result()

        @activity.defn(name="capture_payment")
        async def capture_payment(inp: IntentCommand) -> IntentResult:
            self.stripe_calls.append(("capture", inp.idempotency_key))
            intent = intent_of(inp.intent_id)
            self._flaky("capture_payment", intent.order_id)
            answer = replayed(intent, inp.idempotency_key)
            if isinstance(answer, IntentResult):
                return answer
            if self._refuses("capture", intent.order_id):
                raise refused("This PaymentIntent could not be captured (refused)")
            if intent.status != "requires_capture":
                raise refused(f"cannot capture a PaymentIntent that is {intent.status}")
            if not 0 < inp.amount <= intent.amount:
                raise refused(f"cannot capture {inp.amount} of {intent.amount}")
            intent.status = "succeeded"
            intent.captured = inp.amount
            intent.effects.append(("capture", inp.idempotency_key, inp.amount))
            answer = intent.result().model_copy(update={"amount": inp.amount})
            intent.answers[inp.idempotency_key] = answer
            return answer

        @activity.defn(name="void_payment")
        async def void_payment(inp: IntentCommand) -> IntentResult:
            self.stripe_calls.append(("void", inp.idempotency_key))
            intent = intent_of(inp.intent_id)
            self._flaky("void_payment", intent.order_id)
            answer = replayed(intent, inp.idempotency_key)
            if isinstance(answer, IntentResult):
                return answer
            if self._refuses("void", intent.order_id):
                raise refused("This PaymentIntent could not be canceled (refused)")
            if intent.status not in {
                "requires_capture",
                "requires_action",
                "requires_payment_method",
            }:
                raise refused(f"cannot cancel a PaymentIntent that is {intent.status}")
            intent.status = "canceled"
            intent.effects.append(("void", inp.idempotency_key, 0))
            answer = intent.result()
            intent.answers[inp.idempotency_key] = answer
            return answer

        @activity.defn(name="refund_payment")
        async def refund_payment(inp: IntentCommand) -> RefundResult:
            self.stripe_calls.append(("refund", inp.idempotency_key))
            intent = intent_of(inp.intent_id)
            self._flaky("refund_payment", intent.order_id)
            answer = replayed(intent, inp.idempotency_key)
            if isinstance(answer, RefundResult):
                return answer
            if self._refuses("refund", intent.order_id):
                raise refused("This refund could not be made (refused)")
            left = intent.captured - intent.refunded
            if not 0 < inp.amount <= left:
                raise refused(f"cannot refund {inp.amount}: {left} left")
            intent.refunded += inp.amount
            intent.effects.append(("refund", inp.idempotency_key, inp.amount))
            answer = RefundResult(refund_id=f"re_{len(self.stripe_calls)}", amount=inp.amount)
            intent.answers[inp.idempotency_key] = answer
            return answer

        @activity.defn(name="refresh_payment")
        async def refresh_payment(intent_id: str) -> IntentResult:
            intent = intent_of(intent_id)
            self._flaky("refresh_payment", intent.order_id)
            if intent.order_id not in self.scripts and intent.status == "requires_action":
                intent.status = self.intent_status
            return intent.result()

        @activity.defn(name="send_email")
        async def send_email(request: NotificationRequest) -> DeliveryResult:
            if self.smtp_down:
                raise ConnectionRefusedError("smtp down")
            self._flaky("send_email", request.order_id)
            self.sent.append(request)
            return DeliveryResult(status="sent")

        @activity.defn(name="mark_failed")
        async def mark_failed(inp: FailureInput) -> None:
            self.failures.append(inp)

        return {
            "orders": [reserve_stock, release_stock, commit_stock, record_order],
            "payments": [
                authorize_payment,
                capture_payment,
                void_payment,
                refund_payment,
                refresh_payment,
            ],
            "notifications": [send_email, mark_failed],
        }
