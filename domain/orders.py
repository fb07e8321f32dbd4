"""The order aggregate: it decides every transition (docs/orders.md) and records events.

The workflow asks it (`order.check(command)`, `order.decide(command)`, `order.settle(effect,
result)`, `order.authorization_reported(...)`, `order.time_out()`) and performs the effects
each `Outcome` lists; it never re-implements a rule. What each status accepts and what its
timer does is the table in `domain/lifecycle.py`. Every method either changes state and
returns its outcome, or raises a `DomainError` and changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    CaptureFailed,
    InvalidTransition,
    RefundFailed,
    RefundTooLarge,
)
from domain.lifecycle import Deadline, OnTimeout, OrderStatus, PaymentStatus
from domain.money import Money
from domain.returns import Returns
from domain.shipping import Shipping
from domain.values import (
    MAX_LINES,
    MAX_QUANTITY,
    STRIPE,
    SYSTEM,
    Actor,
    Address,
    OrderLine,
    ReturnStatus,
    validate_lines,
)

__all__ = ["MAX_LINES", "MAX_QUANTITY", "Address", "Order", "OrderLine", "OrderStatus"]

_AWAITING_PAYMENT = {OrderStatus.ACCEPTED, OrderStatus.PAYMENT_ACTION_REQUIRED}


class Order(Shipping, Returns):
    """An order, its money (authorized, captured, refunded), its payment, its shipments
    (`domain/shipping.py`) and its returns (`domain/returns.py`); its state is
    `domain/order_core.py`."""

    @classmethod
    def place(
        cls, order_id: str, customer_id: str, lines: list[OrderLine], address: Address
    ) -> tuple[Order, cmd.Outcome]:
        """A new, accepted order; stock is reserved by the caller before it exists."""
        validate_lines(lines)
        order = cls(order_id, customer_id, list(lines), address)
        order._actor = Actor("customer", customer_id)
        return order, order._record(
            ev.OrderAccepted(total=order.total.amount, currency=order.currency)
        )

    # --- commands ---------------------------------------------------------------------------

    def check(self, command: cmd.Command) -> None:
        """Raise the `DomainError` that `decide` would, without changing anything."""
        command.check_text()
        if type(command) not in self.status.stage.accepts:
            raise command.refusal(self.status)
        match command:
            case cmd.IssueRefund():
                self._refund_amount(command)
            case cmd.Ship():
                self._shipping(command)
            case cmd.Deliver():
                self._delivering(command)
            case cmd.Edit():
                self._editing(command)
            case cmd.OpenReturn():
                self._opening(command)
            case cmd.ReceiveReturn() | cmd.RejectReturn():
                self._open_return(command.return_id)

    def decide(self, command: cmd.Command, now: datetime | None = None) -> cmd.Outcome:
        self.check(command)
        self._actor, self._now = command.actor, now
        match command:
            case cmd.Cancel(reason=reason, by=by):
                return self._cancel(reason, by)
            case cmd.Reject(reason=reason):
                return self._cancel(reason or "rejected by operator", "operator")
            case cmd.Approve():
                self._enter(OrderStatus.CONFIRMED)
                return self._record(ev.OrderApproved(), ev.OrderConfirmed())
            case cmd.Ship():
                if not self.captured:  # the first shipment captures the current total
                    return cmd.Outcome(effects=[cmd.Capture(self.total.amount, command)])
                return self._ship(command)
            case cmd.Deliver():
                return self._deliver(self._delivering(command))
            case cmd.IssueRefund():
                amount = self._refund_amount(command)
                return cmd.Outcome(effects=[cmd.Refund(amount, command.reason or "refund")])
            case cmd.Edit():
                return self._edit(command)
            case cmd.OpenReturn():
                return self._open(command)
            case cmd.ReceiveReturn():
                return self._receive(command)
            case cmd.RejectReturn(return_id=return_id, reason=reason):
                return self._resolve(return_id, ReturnStatus.REJECTED, reason)
        raise InvalidTransition(f"no rule decides {command.verb}")

    def time_out(
        self, deadline: Deadline | None = None, now: datetime | None = None
    ) -> cmd.Outcome:
        """A deadline passed (`deadline()`; None: the status's timer), decided by the
        system: what follows is in `domain/lifecycle.py`."""
        self._actor, self._now = SYSTEM, now
        if deadline is not None and deadline.kind == "delivery":
            return self._deliver([self._shipment(deadline.ref)])
        if deadline is not None and deadline.kind == "return":
            return self._resolve(deadline.ref or "", ReturnStatus.EXPIRED, "not received in time")
        match self.status.stage.on_timeout:
            case OnTimeout.CANCEL:
                return self._cancel(f"{self.status} timed out", "system")
            case OnTimeout.DELIVER:
                return self._deliver([s for s in self.shipments if s.delivered_at is None])
            case OnTimeout.CANCEL_UNSHIPPED:
                unshipped = tuple((sku, 0) for sku, _ in self.unshipped)
                edit = cmd.Edit(unshipped, "not shipped in time", actor=SYSTEM)
                return self._edit(replace(edit, lines=self._kept_shipped(edit.lines)))
            case OnTimeout.CLOSE:  # the process ends, unless a return is still open
                self.closed = True
                if waiting := [r.id for r in self.open_returns]:
                    return self._record(ev.ReturnWindowClosed(open_returns=waiting))
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
        self._actor, self._now = STRIPE, now
        self.payment = replace(self.payment, intent_id=report.intent_id or self.payment.intent_id)
        if self.status.is_final:
            return self._late_authorization(report)
        if kind == "action_required":
            self._pay(PaymentStatus.ACTION_REQUIRED, client_secret=report.client_secret)
            self._enter(OrderStatus.PAYMENT_ACTION_REQUIRED)
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
        self._enter(OrderStatus.PAYMENT_FAILED)
        failed = self._record(ev.PaymentFailed(reason=report.reason or "payment failed"))
        return failed.then(cmd.Outcome(effects=[cmd.ReleaseStock()]))

    def settle(
        self, effect: cmd.Effect, result: object, now: datetime | None = None
    ) -> cmd.Outcome:
        """An effect was performed: record what it did and say what follows."""
        self._now = now or self._now
        match effect, result:
            case cmd.ReleaseStock(), int(moved):
                return self._record(ev.StockReleased(units=moved))
            case cmd.CommitStock(), int(moved):
                return self._record(ev.StockCommitted(units=moved))
            case cmd.Restock(), int(moved):
                return self._record(ev.StockRestocked(units=moved))
            case cmd.RequestVoid(), bool(sent):
                self.payment = replace(self.payment, void_requested=sent)
                return cmd.Outcome()
            case cmd.Void(), cmd.PaymentUpdate() as report:
                return self._voided(report)
            case cmd.Capture(ship=ship), cmd.PaymentUpdate() as report:
                if report.kind != "captured":
                    raise CaptureFailed(report.reason or "capture failed")
                return self._captured(Money(report.amount, self.currency)).then(self._ship(ship))
            case cmd.Refund(amount=amount, reason=reason, then=then), cmd.PaymentUpdate() as report:
                if report.kind == "refunded":
                    done = cmd.Outcome() if then is None else self._after_refund(then, amount)
                    return done.then(self._refunded(Money(amount, self.currency), reason))
                if then is None or then.actor != SYSTEM:
                    raise RefundFailed(report.reason or "refund failed")
                refused = self._record(ev.RefundRefused(amount=amount, reason=reason))
                return refused.then(self._after_refund(then, 0))
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
            self._enter(OrderStatus.UNDER_REVIEW)
            new.append(ev.ReviewRequired(total=self.total.amount))
        else:
            self._enter(OrderStatus.CONFIRMED)
            new.append(ev.OrderConfirmed())
        return self._record(*new)

    def _cancel(self, reason: str, by: str) -> cmd.Outcome:
        """End the order and compensate in reverse: release the stock, then release the
        authorization (or ask a payment still in flight to)."""
        self._enter(OrderStatus.CANCELLED)
        self.cancel_reason = reason
        effects: list[cmd.Effect] = [cmd.ReleaseStock()]
        if self.payment.status == PaymentStatus.AUTHORIZED:
            effects.append(cmd.Void())
        elif self.payment.in_flight:
            effects.append(cmd.RequestVoid())
        self.payment = replace(self.payment, client_secret=None)  # no 3-D Secure to finish
        cancelled = self._record(ev.OrderCancelled(reason=reason, by=by))
        return cancelled.then(cmd.Outcome(effects=effects))

    def _after_refund(self, then: cmd.Command, refunded: int) -> cmd.Outcome:
        """What a refund was taken for, once it is: an edit's units cancelled, a return
        received."""
        match then:
            case cmd.Edit():
                return self._apply_edit(then)
            case cmd.ReceiveReturn():
                return self._received(then, refunded)
        raise InvalidTransition(f"no rule follows a refund with {then.verb}")

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
        """A full refund ends the order as refunded: units not shipped are released and
        returns still open are closed (nothing is left to refund them with)."""
        self.refunded += amount.amount
        new: list[ev.DomainEvent] = [
            ev.RefundIssued(amount=amount.amount, refunded_total=self.refunded, reason=reason)
        ]
        partly = self.refunded < self.captured
        self._pay(PaymentStatus.PARTIALLY_REFUNDED if partly else PaymentStatus.REFUNDED)
        if partly:
            return self._record(*new)
        effects: list[cmd.Effect] = [cmd.ReleaseStock()] if self.unshipped else []
        self._enter(OrderStatus.REFUNDED)
        new.append(ev.OrderRefunded())
        outcome = self._record(*new)
        for back in self.open_returns:
            closed = self._resolve(back.id, ReturnStatus.CLOSED, "everything was refunded")
            outcome = outcome.then(closed)
        return outcome.then(cmd.Outcome(effects=effects))
