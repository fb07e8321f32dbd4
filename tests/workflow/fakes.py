"""In-memory doubles of the activities, registered under the real activity names; payments
run the real activities over an in-memory provider (`tests/workflow/fake_gateway.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import activity

from activities.channels import ChannelQuery
from activities.notification_starts import NotificationStarts, start_notifications
from activities.notifications import DeliveryResult, FailureInput, NotificationRequest
from activities.orders import (
    PricedLine,
    RecordOrderInput,
    ReserveStockInput,
    ReserveStockResult,
    StockInput,
    StockMoveInput,
)
from activities.payments import PaymentActivities
from activities.webhooks import WebhookEvent, WebhookFailure, WebhookResult
from domain.payments import PaymentGateway
from tests.workflow.fake_gateway import FakeGateway
from workflows.webhook_contracts import WebhookDelivery

PRICES = {"TSHIRT": 2500, "MUG": 1200, "MACHINE": 150_000}


@dataclass
class Fakes(FakeGateway):
    """Records every call so tests can assert what the workflows asked for; it is the
    payment provider too (a `PaymentGateway`)."""

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
    moves: dict[tuple[str, str], int] = field(default_factory=dict)
    """Units moved per (order, key) by `move_stock`."""
    records: list[RecordOrderInput] = field(default_factory=list)
    sent: list[NotificationRequest] = field(default_factory=list)
    failures: list[FailureInput] = field(default_factory=list)
    channels: list[str] = field(default_factory=lambda: ["email"])
    """What the channel choice answers for every customer (activities/channels.py)."""
    endpoints: list[str] = field(default_factory=list)
    """The deliveries planning a webhook event answers (with `webhook` among `channels`)."""
    webhooks: list[WebhookDelivery] = field(default_factory=list)
    """Every webhook delivery attempt series delivered."""
    smtp_down: bool = False
    fail_release_times: int = 0

    @property
    def statuses(self) -> list[str]:
        return [r.record.status for r in self.records]

    @property
    def timeline(self) -> list[str]:
        return [e.type for r in self.records for e in r.timeline]

    async def choose(self, query: ChannelQuery) -> list[str]:
        """The channel choice (`ChannelChoice.chosen`): `channels`, for every customer."""
        return list(self.channels)

    def activities(self) -> dict[str, list[object]]:
        gateway: PaymentGateway = self
        payments = PaymentActivities(gateway)

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

        @activity.defn(name="move_stock")
        async def move_stock(inp: StockMoveInput) -> int:
            self._flaky("move_stock", inp.order_id)
            key = (inp.order_id, inp.key)
            if key in self.moves:
                return self.moves[key]
            held = self.reserved.setdefault(inp.order_id, {})
            moved = 0
            for line in inp.lines:
                units = line.quantity
                if inp.kind == "restock":
                    self.stock[line.sku] = self.stock.get(line.sku, 0) + units
                else:
                    units = min(units, held.get(line.sku, 0))
                    held[line.sku] = held.get(line.sku, 0) - units
                    if inp.kind == "release":
                        self.stock[line.sku] += units
                moved += units
            self.moves[key] = moved
            self.settlements.append((inp.order_id, f"{inp.kind}:{inp.key}", moved))
            return moved

        @activity.defn(name="record_order")
        async def record_order(inp: RecordOrderInput) -> list[str] | None:
            self._flaky("record_order", inp.record.id)
            self.records.append(inp)
            return await start_notifications(inp.notify, self.choose) if inp.notify else None

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

        @activity.defn(name="enabled_channels")
        async def enabled_channels(query: ChannelQuery) -> list[str]:
            return await self.choose(query)

        @activity.defn(name="plan_webhooks")
        async def plan_webhooks(event: WebhookEvent) -> list[str]:
            return list(self.endpoints)

        @activity.defn(name="deliver_webhook")
        async def deliver_webhook(delivery: WebhookDelivery) -> WebhookResult:
            self.webhooks.append(delivery)
            return WebhookResult(status="sent")

        @activity.defn(name="give_up_webhook")
        async def give_up_webhook(failure: WebhookFailure) -> None:
            raise AssertionError(f"no webhook delivery should fail here: {failure}")

        return {
            "orders": [
                reserve_stock,
                release_stock,
                commit_stock,
                move_stock,
                record_order,
                NotificationStarts(self.choose).start,
            ],
            "payments": [
                payments.authorize_payment,
                payments.capture_payment,
                payments.void_payment,
                payments.refund_payment,
                payments.refresh_payment,
            ],
            "notifications": [
                send_email,
                mark_failed,
                enabled_channels,
                plan_webhooks,
                deliver_webhook,
                give_up_webhook,
            ],
        }
