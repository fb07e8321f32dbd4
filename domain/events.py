"""Domain events: facts the order aggregate records on each transition.

Each event has a stable `name` (the timeline's `type`) and, where a customer is told about
it, the notification event it starts (`notify`; docs/orders.md, "Notifications").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened to an order."""

    name: ClassVar[str] = "event"
    notify: ClassVar[str | None] = None
    """The customer notification this event triggers, if any."""

    def data(self) -> dict[str, Any]:
        """The event's fields as JSON-ready data for the timeline."""
        return asdict(self)


@dataclass(frozen=True)
class OrderAccepted(DomainEvent):
    name: ClassVar[str] = "order_accepted"
    notify: ClassVar[str | None] = "order_accepted"
    total: int
    currency: str


@dataclass(frozen=True)
class PaymentActionRequired(DomainEvent):
    name: ClassVar[str] = "payment_action_required"
    notify: ClassVar[str | None] = "payment_action_required"


@dataclass(frozen=True)
class PaymentAuthorized(DomainEvent):
    name: ClassVar[str] = "payment_authorized"
    amount: int


@dataclass(frozen=True)
class ReviewRequired(DomainEvent):
    """Operators are told (by email), not the customer."""

    name: ClassVar[str] = "review_required"
    total: int


@dataclass(frozen=True)
class OrderApproved(DomainEvent):
    name: ClassVar[str] = "order_approved"


@dataclass(frozen=True)
class OrderConfirmed(DomainEvent):
    name: ClassVar[str] = "order_confirmed"
    notify: ClassVar[str | None] = "order_confirmed"


@dataclass(frozen=True)
class PaymentFailed(DomainEvent):
    name: ClassVar[str] = "payment_failed"
    notify: ClassVar[str | None] = "payment_failed"
    reason: str


@dataclass(frozen=True)
class OrderShipped(DomainEvent):
    name: ClassVar[str] = "order_shipped"
    notify: ClassVar[str | None] = "order_shipped"
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class PaymentCaptured(DomainEvent):
    name: ClassVar[str] = "payment_captured"
    amount: int


@dataclass(frozen=True)
class OrderDelivered(DomainEvent):
    name: ClassVar[str] = "order_delivered"
    notify: ClassVar[str | None] = "order_delivered"


@dataclass(frozen=True)
class OrderCancelled(DomainEvent):
    name: ClassVar[str] = "order_cancelled"
    notify: ClassVar[str | None] = "order_cancelled"
    reason: str
    by: str


@dataclass(frozen=True)
class RefundIssued(DomainEvent):
    name: ClassVar[str] = "refund_issued"
    notify: ClassVar[str | None] = "refund_issued"
    amount: int
    refunded_total: int
    reason: str


@dataclass(frozen=True)
class OrderRefunded(DomainEvent):
    """The captured amount is fully refunded."""

    name: ClassVar[str] = "order_refunded"


@dataclass(frozen=True)
class StockReleased(DomainEvent):
    """Compensation: reserved units went back to stock."""

    name: ClassVar[str] = "stock_released"
    units: int


@dataclass(frozen=True)
class StockCommitted(DomainEvent):
    name: ClassVar[str] = "stock_committed"
    units: int


@dataclass(frozen=True)
class PaymentVoided(DomainEvent):
    """Compensation: the card authorization was released."""

    name: ClassVar[str] = "payment_voided"


@dataclass(frozen=True)
class PaymentVoidFailed(DomainEvent):
    """The provider finally refused to void the authorization: the order ends all the same,
    and an operator checks the payment (it lapses by itself when the card's hold expires)."""

    name: ClassVar[str] = "payment_void_failed"
    reason: str
