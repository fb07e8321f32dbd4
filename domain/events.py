"""Domain events: facts the order aggregate records on each transition.

Each event has a stable `name` (the timeline's `type`) and, where a customer is told about
it, the notification event it starts (`notify`; docs/orders.md, "Notifications").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from domain.values import SYSTEM, Actor


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened to an order."""

    name: ClassVar[str] = "event"
    notify: ClassVar[str | None] = None
    """The customer notification this event triggers, if any."""
    actor: Actor = field(default=SYSTEM, kw_only=True, compare=False)
    """Who caused it (the aggregate stamps it when it records the event)."""

    def data(self) -> dict[str, Any]:
        """The event's fields as JSON-ready data for the timeline (its actor apart)."""
        data = asdict(self)
        del data["actor"]
        return data


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
    """One shipment left (S-1 is the first; the first captures the payment)."""

    name: ClassVar[str] = "order_shipped"
    notify: ClassVar[str | None] = "order_shipped"
    carrier: str
    tracking_number: str
    shipment_id: str = "S-1"
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ShipmentDelivered(DomainEvent):
    """One shipment arrived while others are still on their way (or not shipped yet)."""

    name: ClassVar[str] = "shipment_delivered"
    shipment_id: str


@dataclass(frozen=True)
class OrderUpdated(DomainEvent):
    """Quantities lowered or lines removed; `lines` are the changed lines, new quantities."""

    name: ClassVar[str] = "order_updated"
    notify: ClassVar[str | None] = "order_updated"
    lines: list[dict[str, Any]]
    total: int
    reason: str = ""


@dataclass(frozen=True)
class ReturnRequested(DomainEvent):
    name: ClassVar[str] = "return_requested"
    notify: ClassVar[str | None] = "return_requested"
    return_id: str
    lines: list[dict[str, Any]]
    reason: str


@dataclass(frozen=True)
class ReturnReceived(DomainEvent):
    name: ClassVar[str] = "return_received"
    notify: ClassVar[str | None] = "return_received"
    return_id: str
    refund: int
    restock: bool


@dataclass(frozen=True)
class ReturnRejected(DomainEvent):
    name: ClassVar[str] = "return_rejected"
    notify: ClassVar[str | None] = "return_rejected"
    return_id: str
    reason: str


@dataclass(frozen=True)
class ReturnClosed(DomainEvent):
    """An open return closed because everything captured was refunded otherwise (no
    message: the refund's own tells the customer)."""

    name: ClassVar[str] = "return_closed"
    return_id: str
    reason: str


@dataclass(frozen=True)
class ReturnExpired(DomainEvent):
    """Not received within the return's receive timeout."""

    name: ClassVar[str] = "return_expired"
    return_id: str


@dataclass(frozen=True)
class ReturnWindowClosed(DomainEvent):
    """No more returns or refunds; the order waits for the returns still open."""

    name: ClassVar[str] = "return_window_closed"
    open_returns: list[str]


@dataclass(frozen=True)
class StockRestocked(DomainEvent):
    """Returned units are back on hand."""

    name: ClassVar[str] = "stock_restocked"
    units: int


@dataclass(frozen=True)
class RefundRefused(DomainEvent):
    """The provider refused for good a refund the system asked for (units it cancelled):
    the units stay cancelled and an operator refunds by hand."""

    name: ClassVar[str] = "refund_refused"
    amount: int
    reason: str


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
