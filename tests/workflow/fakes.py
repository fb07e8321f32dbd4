"""In-memory doubles of the activities, registered under the real activity names."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class Fakes:
    """Records every call so tests can assert what the workflows asked for."""

    stock: dict[str, int] = field(default_factory=lambda: {"TSHIRT": 10, "MUG": 10, "MACHINE": 2})
    reserved: dict[str, dict[str, int]] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    records: list[RecordOrderInput] = field(default_factory=list)
    stripe_calls: list[tuple[str, str]] = field(default_factory=list)
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

    def activities(self) -> dict[str, list[object]]:
        @activity.defn(name="reserve_stock")
        async def reserve_stock(inp: ReserveStockInput) -> ReserveStockResult:
            short = [line.sku for line in inp.lines if self.stock.get(line.sku, 0) < line.quantity]
            if short:
                return ReserveStockResult(out_of_stock=short)
            for line in inp.lines:
                self.stock[line.sku] -= line.quantity
            self.reserved[inp.order_id] = {line.sku: line.quantity for line in inp.lines}
            return ReserveStockResult(
                lines=[
                    PricedLine(
                        sku=line.sku,
                        name=line.sku.title(),
                        quantity=line.quantity,
                        unit_price=PRICES.get(line.sku, 1000),
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
            lines = self.reserved.pop(inp.order_id, {})
            for sku, quantity in lines.items():
                self.stock[sku] += quantity
            self.released.append(inp.order_id)
            return sum(lines.values())

        @activity.defn(name="commit_stock")
        async def commit_stock(inp: StockInput) -> int:
            self.committed.append(inp.order_id)
            return sum(self.reserved.pop(inp.order_id, {}).values())

        @activity.defn(name="record_order")
        async def record_order(inp: RecordOrderInput) -> None:
            self.records.append(inp)

        def intent(amount: int, status: str) -> IntentResult:
            return IntentResult(
                intent_id="pi_fake",
                status=status,
                amount=amount,
                currency="EUR",
                client_secret="pi_fake_secret",
            )

        @activity.defn(name="authorize_payment")
        async def authorize_payment(inp: AuthorizeInput) -> IntentResult:
            self.stripe_calls.append(("authorize", inp.idempotency_key))
            self.intent_amount = inp.amount
            if self.decline:
                raise ApplicationError(
                    "Your card was declined.", type=CARD_DECLINED, non_retryable=True
                )
            return intent(inp.amount, self.intent_status)

        @activity.defn(name="capture_payment")
        async def capture_payment(inp: IntentCommand) -> IntentResult:
            self.stripe_calls.append(("capture", inp.idempotency_key))
            return intent(inp.amount, "succeeded")

        @activity.defn(name="void_payment")
        async def void_payment(inp: IntentCommand) -> IntentResult:
            self.stripe_calls.append(("void", inp.idempotency_key))
            return intent(inp.amount, "canceled")

        @activity.defn(name="refund_payment")
        async def refund_payment(inp: IntentCommand) -> RefundResult:
            self.stripe_calls.append(("refund", inp.idempotency_key))
            return RefundResult(refund_id=f"re_{len(self.stripe_calls)}", amount=inp.amount)

        @activity.defn(name="refresh_payment")
        async def refresh_payment(intent_id: str) -> IntentResult:
            return intent(self.intent_amount, self.intent_status)

        @activity.defn(name="send_email")
        async def send_email(request: NotificationRequest) -> DeliveryResult:
            if self.smtp_down:
                raise ConnectionRefusedError("smtp down")
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
