"""The order aggregate: it decides every transition (docs/orders.md) and records events.

The workflow asks it (`order.check(command)`, `order.decide(command)`, `order.settle(effect,
result)`, `order.authorization_reported(...)`, `order.time_out()`) and performs the effects
each `Outcome` lists; it never re-implements a rule. What each status accepts and what its
timer does is the table in `domain/lifecycle.py`. Every method either changes state and
returns its outcome, or raises a `DomainError` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    CaptureFailed,
    InvalidTransition,
    RefundFailed,
    RefundTooLarge,
)
from domain.lifecycle import OnTimeout, OrderStatus, Payment, PaymentStatus
from domain.money import Money
from domain.values import MAX_LINES, MAX_QUANTITY, Address, OrderLine, Shipment, validate_lines

__all__ = ["MAX_LINES", "MAX_QUANTITY", "Address", "Order", "OrderLine", "OrderStatus"]

_AWAITING_PAYMENT = {OrderStatus.ACCEPTED, OrderStatus.PAYMENT_ACTION_REQUIRED}


@dataclass
class Order:
    """An order, its money (authorized, captured, refunded) and its payment."""

    id: str
    customer_id: str
    lines: list[OrderLine]
    shipping_address: Address
    status: OrderStatus = OrderStatus.ACCEPTED
    payment: Payment = field(default_factory=Payment)
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    authorized_at: datetime | None = None
    shipment: Shipment | None = None
    cancel_reason: str | None = None
    closed: bool = False
    """The refund window has closed: the process ends and takes no more refunds."""
    events: list[ev.DomainEvent] = field(default_factory=list)

    @classmethod
    def place(
        cls, order_id: str, customer_id: str, lines: list[OrderLine], address: Address
    ) -> tuple[Order, cmd.Outcome]:
        """A new, accepted order; stock is reserved by the caller before it exists."""
        validate_lines(lines)
        order = cls(order_id, customer_id, list(lines), address)
        return order, order._record(
            ev.OrderAccepted(total=order.total.amount, currency=order.currency)
        )

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

    # --- commands ---------------------------------------------------------------------------

    def check(self, command: cmd.Command) -> None:
        """Raise the `DomainError` that `decide` would, without changing anything."""
        command.check_text()
        if type(command) not in self.status.stage.accepts:
            raise command.refusal(self.status)
        if isinstance(command, cmd.IssueRefund):
            self._refund_amount(command)

    def decide(self, command: cmd.Command) -> cmd.Outcome:
        self.check(command)
        match command:
            case cmd.Cancel(reason=reason, by=by):
                return self._cancel(reason, by)
            case cmd.Reject(reason=reason):
                return self._cancel(reason or "rejected by operator", "operator")
            case cmd.Approve():
                self.status = OrderStatus.CONFIRMED
                return self._record(ev.OrderApproved(), ev.OrderConfirmed())
            case cmd.Ship():
                return cmd.Outcome(effects=[cmd.Capture(self.authorized, command)])
            case cmd.Deliver():
                return self._deliver()
            case cmd.IssueRefund():
                amount = self._refund_amount(command)
                return cmd.Outcome(effects=[cmd.Refund(amount, command.reason or "refund")])
        raise InvalidTransition(f"no rule decides {command.verb}")

    def time_out(self) -> cmd.Outcome:
        """The current status's timer fired (`domain/lifecycle.py` says what follows)."""
        match self.status.stage.on_timeout:
            case OnTimeout.CANCEL:
                return self._cancel(f"{self.status} timed out", "system")
            case OnTimeout.DELIVER:
                return self._deliver()
            case OnTimeout.CLOSE:
                self.closed = True
                return cmd.Outcome()
        raise InvalidTransition(f"an order that is {self.status} has no timer")

    # --- the payment --------------------------------------------------------------------------

    def payment_started(self) -> None:
        self.payment = replace(self.payment, status=PaymentStatus.AUTHORIZING)

    def authorization_reported(
        self, report: cmd.PaymentUpdate, review_threshold: int, now: datetime
    ) -> cmd.Outcome:
        """An authorization outcome; `settled` is False while more are to come. A report the
        order cannot take (it is past its payment, or the amount is not its total) is
        refused and changes nothing."""
        kind = report.kind
        if not self.status.is_final:  # else cancelled while the payment was in flight
            action = (
                "require payment action" if kind == "action_required" else "settle the payment of"
            )
            self._expect(_AWAITING_PAYMENT, action)
            if kind == "authorized" and report.amount != self.total.amount:
                raise InvalidTransition(
                    f"authorized {Money(report.amount, self.currency)} "
                    f"but the order totals {self.total}"
                )
        self.payment = replace(self.payment, intent_id=report.intent_id or self.payment.intent_id)
        if self.status.is_final:
            return self._late_authorization(report)
        if kind == "action_required":
            self._pay(PaymentStatus.ACTION_REQUIRED, client_secret=report.client_secret)
            self.status = OrderStatus.PAYMENT_ACTION_REQUIRED
            outcome = self._record(ev.PaymentActionRequired())
            outcome.settled = False
            return outcome
        if kind == "authorized":
            self._pay(PaymentStatus.AUTHORIZED)
            self.authorized_at = now
            return self._authorize(Money(report.amount, self.currency), review_threshold)
        if kind == "expired":
            self._pay(PaymentStatus.EXPIRED)
            return self._cancel(report.reason or "payment action timed out", "system")
        self._pay(PaymentStatus.FAILED)  # declined, or the payment ended without authorizing
        self.status = OrderStatus.PAYMENT_FAILED
        failed = self._record(ev.PaymentFailed(reason=report.reason or "payment failed"))
        return failed.then(cmd.Outcome(effects=[cmd.ReleaseStock()]))

    def settle(self, effect: cmd.Effect, result: object) -> cmd.Outcome:
        """An effect was performed: record what it did and say what follows."""
        match effect, result:
            case cmd.ReleaseStock(), int(units):
                return self._record(ev.StockReleased(units=units))
            case cmd.CommitStock(), int(units):
                return self._record(ev.StockCommitted(units=units))
            case cmd.RequestVoid(), bool(sent):
                self.payment = replace(self.payment, void_requested=sent)
                return cmd.Outcome()
            case cmd.Void(), cmd.PaymentUpdate() as report:
                return self._voided(report)
            case cmd.Capture(ship=ship), cmd.PaymentUpdate() as report:
                if report.kind != "captured":
                    raise CaptureFailed(report.reason or "capture failed")
                return self._shipped(ship, Money(report.amount, self.currency))
            case cmd.Refund(amount=amount, reason=reason), cmd.PaymentUpdate() as report:
                if report.kind != "refunded":
                    raise RefundFailed(report.reason or "refund failed")
                return self._refunded(Money(amount, self.currency), reason)
        raise InvalidTransition(f"{effect} cannot settle with {result!r}")

    # --- transitions ------------------------------------------------------------------------

    def _late_authorization(self, report: cmd.PaymentUpdate) -> cmd.Outcome:
        """The order ended while the payment authorized: settle the payment's side only."""
        kind = report.kind
        if kind == "action_required" or (kind == "authorized" and self.payment.void_requested):
            return cmd.Outcome(settled=False)  # the outcome (or the void asked for) comes next
        if kind in {"failed", "expired"}:
            self._pay(PaymentStatus(kind))
            return cmd.Outcome(changed=True)
        if kind in {"voided", "void_failed"}:
            return self._voided(report)
        self._pay(PaymentStatus.AUTHORIZED)
        return cmd.Outcome(effects=[cmd.Void()], changed=True)

    def _authorize(self, amount: Money, review_threshold: int) -> cmd.Outcome:
        """Large orders go to review, others are confirmed."""
        self.authorized = amount.amount
        new: list[ev.DomainEvent] = [ev.PaymentAuthorized(amount=amount.amount)]
        if self.total.amount >= review_threshold:
            self.status = OrderStatus.UNDER_REVIEW
            new.append(ev.ReviewRequired(total=self.total.amount))
        else:
            self.status = OrderStatus.CONFIRMED
            new.append(ev.OrderConfirmed())
        return self._record(*new)

    def _cancel(self, reason: str, by: str) -> cmd.Outcome:
        """End the order and compensate in reverse: release the stock, then release the
        authorization (or ask a payment still in flight to)."""
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = reason
        effects: list[cmd.Effect] = [cmd.ReleaseStock()]
        if self.payment.status == PaymentStatus.AUTHORIZED:
            effects.append(cmd.Void())
        elif self.payment.in_flight:
            effects.append(cmd.RequestVoid())
        self.payment = replace(self.payment, client_secret=None)  # no 3-D Secure to finish
        cancelled = self._record(ev.OrderCancelled(reason=reason, by=by))
        return cancelled.then(cmd.Outcome(effects=effects))

    def _deliver(self) -> cmd.Outcome:
        self.status = OrderStatus.DELIVERED
        return self._record(ev.OrderDelivered())

    def _shipped(self, ship: cmd.Ship, captured: Money) -> cmd.Outcome:
        if self.captured:
            raise InvalidTransition("the payment was captured already")
        if captured.amount <= 0 or captured > Money(self.authorized, self.currency):
            raise InvalidTransition(f"captured {captured} exceeds the authorization")
        self._pay(PaymentStatus.CAPTURED)
        self.status = OrderStatus.SHIPPED
        self.shipment = Shipment(ship.carrier, ship.tracking_number)
        self.captured = captured.amount
        shipped = self._record(
            ev.OrderShipped(carrier=ship.carrier, tracking_number=ship.tracking_number),
            ev.PaymentCaptured(amount=captured.amount),
        )
        return shipped.then(cmd.Outcome(effects=[cmd.CommitStock()]))

    def _voided(self, report: cmd.PaymentUpdate) -> cmd.Outcome:
        """A void's outcome; a refusal is recorded for operators and the order goes on (the
        hold lapses by itself when the card's authorization expires)."""
        if report.kind == "voided":
            self._pay(PaymentStatus.VOIDED)
            return self._record(ev.PaymentVoided())
        self._pay(PaymentStatus.VOID_FAILED)
        return self._record(ev.PaymentVoidFailed(reason=report.reason or "void refused"))

    def _refund_amount(self, command: cmd.IssueRefund) -> int:
        if self.closed:
            raise InvalidTransition("the refund window has closed")
        if self.captured == 0:
            raise command.refusal(self.status)
        refund = self.refundable if command.amount is None else Money(command.amount, self.currency)
        if refund.amount <= 0:
            raise RefundTooLarge("a refund must be a positive amount")
        if refund > self.refundable:
            raise RefundTooLarge(f"refund {refund} exceeds the refundable {self.refundable}")
        return refund.amount

    def _refunded(self, amount: Money, reason: str) -> cmd.Outcome:
        """A full refund ends the order as refunded."""
        self.refunded += amount.amount
        new: list[ev.DomainEvent] = [
            ev.RefundIssued(amount=amount.amount, refunded_total=self.refunded, reason=reason)
        ]
        if self.refunded == self.captured:
            self.status = OrderStatus.REFUNDED
            new.append(ev.OrderRefunded())
        partly = self.refunded < self.captured
        self._pay(PaymentStatus.PARTIALLY_REFUNDED if partly else PaymentStatus.REFUNDED)
        return self._record(*new)

    def _pay(self, status: PaymentStatus, client_secret: str | None = None) -> None:
        """The payment's new status; the customer's secret only while they must act."""
        self.payment = replace(self.payment, status=status, client_secret=client_secret)

    def _expect(self, allowed: set[OrderStatus], action: str) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"cannot {action} an order that is {self.status}")

    def _record(self, *new: ev.DomainEvent) -> cmd.Outcome:
        """Keep the events, and tell whom each one concerns (the how-many-th time)."""
        self.events.extend(new)
        notify: list[cmd.Effect] = []
        for event in new:
            audience = cmd.Audience.CUSTOMER if event.notify else None
            if isinstance(event, ev.ReviewRequired):
                audience = cmd.Audience.OPERATOR
            if audience is not None:
                occurrence = sum(1 for seen in self.events if seen.name == event.name)
                notify.append(cmd.Notify(event.notify or event.name, audience, occurrence))
        return cmd.Outcome(list(new), notify)
