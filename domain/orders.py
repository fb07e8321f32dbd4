"""The order aggregate: it decides every status transition (docs/orders.md) and records events.

Workflows ask the aggregate (`order.ship(...)`) and act on the events it returns; they
never re-implement a rule. Every method either changes state and returns the new events,
or raises a `DomainError` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain import events as ev
from domain.errors import (
    CurrencyMismatch,
    InvalidOrder,
    InvalidTransition,
    NotCancellable,
    RefundTooLarge,
)
from domain.money import Money

MAX_QUANTITY = 100
MAX_LINES = 100


class OrderStatus(StrEnum):
    """Where an order stands in its process."""

    ACCEPTED = "accepted"
    PAYMENT_ACTION_REQUIRED = "payment_action_required"
    UNDER_REVIEW = "under_review"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    PAYMENT_FAILED = "payment_failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = {OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELLED, OrderStatus.REFUNDED}
_AWAITING_PAYMENT = {OrderStatus.ACCEPTED, OrderStatus.PAYMENT_ACTION_REQUIRED}
_CANCELLABLE = {
    OrderStatus.ACCEPTED,
    OrderStatus.PAYMENT_ACTION_REQUIRED,
    OrderStatus.UNDER_REVIEW,
    OrderStatus.CONFIRMED,
}


@dataclass(frozen=True)
class OrderLine:
    """One priced line of an order."""

    sku: str
    name: str
    quantity: int
    unit_price: Money

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Address:
    """Where the order ships to."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str


def validate_quantity(quantity: int) -> None:
    """Quantities are 1 to 100 per line."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(f"quantity must be between 1 and {MAX_QUANTITY}, got {quantity}")


@dataclass
class Order:
    """An order and its money: authorized, captured and refunded amounts."""

    id: str
    customer_id: str
    lines: list[OrderLine]
    shipping_address: Address
    status: OrderStatus = OrderStatus.ACCEPTED
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    shipment: Shipment | None = None
    cancel_reason: str | None = None
    events: list[ev.DomainEvent] = field(default_factory=list)

    @classmethod
    def place(
        cls, order_id: str, customer_id: str, lines: list[OrderLine], address: Address
    ) -> Order:
        """A new, accepted order; stock is reserved by the caller before it exists."""
        if not lines:
            raise InvalidOrder("an order needs at least one line")
        if len(lines) > MAX_LINES:
            raise InvalidOrder(f"an order has at most {MAX_LINES} lines")
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise InvalidOrder("each sku may appear on one line only")
        for line in lines:
            validate_quantity(line.quantity)
        currencies = {line.unit_price.currency for line in lines}
        if len(currencies) > 1:
            raise CurrencyMismatch(f"lines mix currencies: {', '.join(sorted(currencies))}")
        order = cls(order_id, customer_id, list(lines), address)
        order._record(ev.OrderAccepted(total=order.total.amount, currency=order.currency))
        return order

    @property
    def currency(self) -> str:
        return self.lines[0].unit_price.currency

    @property
    def total(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.total
        return total

    @property
    def refundable(self) -> Money:
        return Money(self.captured - self.refunded, self.currency)

    # --- payment outcomes -------------------------------------------------------------

    def require_payment_action(self) -> list[ev.DomainEvent]:
        """The card needs 3-D Secure; the customer must act."""
        self._expect({OrderStatus.ACCEPTED}, "require payment action")
        self.status = OrderStatus.PAYMENT_ACTION_REQUIRED
        return self._record(ev.PaymentActionRequired())

    def authorize(self, amount: Money, review_threshold: int) -> list[ev.DomainEvent]:
        """The payment is authorized; large orders go to review, others are confirmed."""
        self._expect(_AWAITING_PAYMENT, "authorize")
        if amount != self.total:
            raise InvalidTransition(f"authorized {amount} but the order totals {self.total}")
        self.authorized = amount.amount
        new: list[ev.DomainEvent] = [ev.PaymentAuthorized(amount=amount.amount)]
        if self.total.amount >= review_threshold:
            self.status = OrderStatus.UNDER_REVIEW
            new.append(ev.ReviewRequired(total=self.total.amount))
        else:
            self.status = OrderStatus.CONFIRMED
            new.append(ev.OrderConfirmed())
        return self._record(*new)

    def fail_payment(self, reason: str) -> list[ev.DomainEvent]:
        """Declined or failed authorization: the order ends, stock is released."""
        self._expect(_AWAITING_PAYMENT, "fail payment")
        self.status = OrderStatus.PAYMENT_FAILED
        return self._record(ev.PaymentFailed(reason=reason))

    # --- operator and customer commands ----------------------------------------------

    def approve(self) -> list[ev.DomainEvent]:
        self._expect({OrderStatus.UNDER_REVIEW}, "approve")
        self.status = OrderStatus.CONFIRMED
        return self._record(ev.OrderApproved(), ev.OrderConfirmed())

    def reject(self, reason: str) -> list[ev.DomainEvent]:
        self._expect({OrderStatus.UNDER_REVIEW}, "reject")
        return self._cancel(reason, by="operator")

    def ensure_cancellable(self) -> None:
        """Raise `NotCancellable` unless the order can still be cancelled."""
        if self.status not in _CANCELLABLE:
            raise NotCancellable(f"an order that is {self.status} cannot be cancelled")

    def cancel(self, reason: str, by: str) -> list[ev.DomainEvent]:
        """Cancel before shipment; the caller compensates (stock, authorization)."""
        self.ensure_cancellable()
        return self._cancel(reason, by)

    def ship(self, carrier: str, tracking_number: str) -> list[ev.DomainEvent]:
        self._expect({OrderStatus.CONFIRMED}, "ship")
        self.status = OrderStatus.SHIPPED
        self.shipment = Shipment(carrier, tracking_number)
        return self._record(ev.OrderShipped(carrier=carrier, tracking_number=tracking_number))

    def record_capture(self, amount: Money) -> list[ev.DomainEvent]:
        """The payment was captured at shipment."""
        self._expect({OrderStatus.SHIPPED}, "capture")
        if self.captured:
            raise InvalidTransition("the payment was captured already")
        if amount.amount <= 0 or amount > Money(self.authorized, self.currency):
            raise InvalidTransition(f"captured {amount} exceeds the authorization")
        self.captured = amount.amount
        return self._record(ev.PaymentCaptured(amount=amount.amount))

    def deliver(self) -> list[ev.DomainEvent]:
        self._expect({OrderStatus.SHIPPED}, "deliver")
        self.status = OrderStatus.DELIVERED
        return self._record(ev.OrderDelivered())

    def ensure_refundable(self, amount: Money | None) -> Money:
        """The amount a refund would return (the rest when `amount` is None), or raise."""
        if self.captured == 0 or self.status not in {OrderStatus.SHIPPED, OrderStatus.DELIVERED}:
            raise InvalidTransition(f"nothing captured to refund while {self.status}")
        refund = self.refundable if amount is None else amount
        if refund.amount <= 0:
            raise RefundTooLarge("a refund must be a positive amount")
        if refund > self.refundable:
            raise RefundTooLarge(f"refund {refund} exceeds the refundable {self.refundable}")
        return refund

    def refund(self, amount: Money | None, reason: str) -> list[ev.DomainEvent]:
        """Record a refund; a full refund ends the order as refunded."""
        refund = self.ensure_refundable(amount)
        self.refunded += refund.amount
        new: list[ev.DomainEvent] = [
            ev.RefundIssued(amount=refund.amount, refunded_total=self.refunded, reason=reason)
        ]
        if self.refunded == self.captured:
            self.status = OrderStatus.REFUNDED
            new.append(ev.OrderRefunded())
        return self._record(*new)

    # --- internals ---------------------------------------------------------------------

    def _cancel(self, reason: str, by: str) -> list[ev.DomainEvent]:
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = reason
        return self._record(ev.OrderCancelled(reason=reason, by=by))

    def _expect(self, allowed: set[OrderStatus], action: str) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"cannot {action} an order that is {self.status}")

    def _record(self, *new: ev.DomainEvent) -> list[ev.DomainEvent]:
        self.events.extend(new)
        return list(new)
