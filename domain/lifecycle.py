"""Where an order and its payment stand, and what each status allows: the one table.

`STAGES` says, for every order status, which commands it accepts, which timer runs while
the order waits in it, what happens when that timer fires, and what operators see the order
waiting for. The aggregate (`domain/orders.py`) decides with it and the workflow
(`workflows/order.py`) only reads it to know how long to wait; adding a status is an entry
here, its transitions in the aggregate and a template (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain import commands as cmd


class OrderStatus(StrEnum):
    """Where an order stands in its process."""

    ACCEPTED = "accepted"
    PAYMENT_ACTION_REQUIRED = "payment_action_required"
    UNDER_REVIEW = "under_review"
    CONFIRMED = "confirmed"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    PAYMENT_FAILED = "payment_failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"

    @property
    def is_final(self) -> bool:
        return not STAGES[self].accepts and STAGES[self].timer is None

    @property
    def stage(self) -> Stage:
        return STAGES[self]


class PaymentStatus(StrEnum):
    """Where the order's money stands, as the read model and the `PaymentStatus` search
    attribute show it."""

    PENDING = "pending"
    AUTHORIZING = "authorizing"
    ACTION_REQUIRED = "action_required"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    VOID_FAILED = "void_failed"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Payment:
    """The order's view of its payment: status, the provider's intent and, while the
    customer must act, the secret their browser needs."""

    status: PaymentStatus = PaymentStatus.PENDING
    intent_id: str | None = None
    client_secret: str | None = None
    void_requested: bool = False
    """A void was asked of a payment still authorizing: its outcome is reported next."""

    @property
    def in_flight(self) -> bool:
        """Still authorizing or waiting for the customer: it cannot be voided yet, only
        asked to void as soon as it can."""
        return self.status in {PaymentStatus.AUTHORIZING, PaymentStatus.ACTION_REQUIRED}

    @property
    def ends_by_itself(self) -> bool:
        """A failed or expired payment process has ended on its own; any other waits for
        the order to close it."""
        return self.status in {PaymentStatus.FAILED, PaymentStatus.EXPIRED}


class OnTimeout(StrEnum):
    """What the aggregate does when a status's timer fires."""

    CANCEL = "cancel"
    """Cancel by the system and compensate (release stock, void the authorization)."""
    DELIVER = "deliver"
    """Take each shipment as delivered, its own timer after it shipped."""
    CANCEL_UNSHIPPED = "cancel_unshipped"
    """Cancel the units not shipped yet by the system, and refund them."""
    CLOSE = "close"
    """Close the return window: no return or refund is taken any more; the process ends
    once no return is open."""


@dataclass(frozen=True)
class Deadline:
    """When the order stops waiting for something: its status's timer (`status`), one
    shipment's automatic delivery (`delivery`, `ref` the shipment) or one return's expiry
    (`return`, `ref` the return)."""

    at: datetime
    kind: str
    ref: str | None = None


@dataclass(frozen=True)
class Stage:
    """What one status means to the process."""

    accepts: frozenset[type[cmd.Command]] = field(default_factory=frozenset)
    timer: str | None = None
    """The `OrderPolicy` duration the order waits at most in this status."""
    on_timeout: OnTimeout | None = None
    """None while another process owns the wait (the payment's own 3-D Secure timer)."""
    waiting: str = "finished"
    """What operators see the order waiting for (the workflow's current details)."""
    from_authorization: bool = False
    """The timer counts from the authorization, not from entering the status, so review
    and fulfilment together stay inside the card's authorization window."""

    def timeout(
        self,
        durations: Mapping[str, timedelta],
        *,
        waited_since_authorization: timedelta | None = None,
    ) -> timedelta | None:
        """How long an order waits in this status before it times out; None: no timer of
        its own. A timer that counts from the authorization is given the time waited since
        (and leaves at least a second)."""
        if self.timer is None or self.on_timeout is None:
            return None
        timeout = durations[self.timer]
        if self.from_authorization and waited_since_authorization is not None:
            timeout = max(timeout - waited_since_authorization, timedelta(seconds=1))
        return timeout


STAGES: dict[OrderStatus, Stage] = {
    OrderStatus.ACCEPTED: Stage(frozenset({cmd.Cancel}), waiting="authorizing the payment"),
    OrderStatus.PAYMENT_ACTION_REQUIRED: Stage(
        frozenset({cmd.Cancel}),
        timer="payment_action_timeout",
        waiting="waiting for the customer's 3-D Secure",
    ),
    OrderStatus.UNDER_REVIEW: Stage(
        frozenset({cmd.Cancel, cmd.Approve, cmd.Reject, cmd.Edit}),
        timer="review_timeout",
        on_timeout=OnTimeout.CANCEL,
        waiting="waiting for operator review",
    ),
    OrderStatus.CONFIRMED: Stage(
        frozenset({cmd.Cancel, cmd.Ship, cmd.Edit}),
        timer="fulfillment_timeout",
        on_timeout=OnTimeout.CANCEL,
        waiting="waiting for shipment",
        from_authorization=True,
    ),
    OrderStatus.PARTIALLY_SHIPPED: Stage(
        frozenset({cmd.Ship, cmd.Deliver, cmd.Edit, cmd.IssueRefund}),
        timer="fulfillment_timeout",
        on_timeout=OnTimeout.CANCEL_UNSHIPPED,
        waiting="waiting for the rest to ship (from the latest shipment)",
    ),
    OrderStatus.SHIPPED: Stage(
        frozenset({cmd.Deliver, cmd.IssueRefund}),
        timer="delivery_timeout",
        on_timeout=OnTimeout.DELIVER,
        waiting="waiting for delivery",
    ),
    OrderStatus.DELIVERED: Stage(
        frozenset({cmd.IssueRefund, cmd.OpenReturn, cmd.ReceiveReturn, cmd.RejectReturn}),
        timer="refund_window",
        on_timeout=OnTimeout.CLOSE,
        waiting="taking returns and refunds",
    ),
    OrderStatus.PAYMENT_FAILED: Stage(),
    OrderStatus.CANCELLED: Stage(),
    OrderStatus.REFUNDED: Stage(),
}
