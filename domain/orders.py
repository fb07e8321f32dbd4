"""The order aggregate: it decides every transition (docs/orders.md) and records events.

The workflow asks it (`order.check(command)`, `order.decide(command)`, `order.settle(effect,
result)`, `order.authorization_reported(...)`, `order.time_out()`) and performs the effects
each `Outcome` lists; it never re-implements a rule. What each status accepts and what its
timer does is the table in `domain/lifecycle.py`. Every method either changes state and
returns its outcome, or raises a `DomainError` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from domain import commands as cmd
from domain import events as ev
from domain import fulfilment as units
from domain.errors import (
    CaptureFailed,
    InvalidTransition,
    RefundFailed,
    RefundTooLarge,
    ReturnWindowClosed,
    UnknownReturn,
    UnknownShipment,
)
from domain.lifecycle import Deadline, OnTimeout, OrderStatus, Payment, PaymentStatus
from domain.money import Money
from domain.values import (
    MAX_LINES,
    MAX_QUANTITY,
    STRIPE,
    SYSTEM,
    Actor,
    Address,
    OrderLine,
    Return,
    ReturnStatus,
    Shipment,
    Units,
    validate_lines,
)

__all__ = ["MAX_LINES", "MAX_QUANTITY", "Address", "Order", "OrderLine", "OrderStatus"]

_AWAITING_PAYMENT = {OrderStatus.ACCEPTED, OrderStatus.PAYMENT_ACTION_REQUIRED}


@dataclass
class Order:
    """An order, its money (authorized, captured, refunded), its payment, its shipments
    and its returns (`domain/returns.py`)."""

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
    shipments: list[Shipment] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    cancel_reason: str | None = None
    closed: bool = False
    """The return window has closed: no return or refund is taken any more."""
    status_since: datetime | None = None
    """When the order entered its status (its status timer counts from then)."""
    events: list[ev.DomainEvent] = field(default_factory=list)
    _actor: Actor = field(default=SYSTEM, repr=False)
    """Who the decision being made is for (stamped on its events)."""
    _now: datetime | None = field(default=None, repr=False)

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

    @property
    def shipment(self) -> Shipment | None:
        """The latest shipment."""
        return self.shipments[-1] if self.shipments else None

    @property
    def unshipped(self) -> Units:
        return units.left(self.lines, units.shipped(self.shipments))

    @property
    def open_returns(self) -> list[Return]:
        return [r for r in self.returns if r.open]

    @property
    def finished(self) -> bool:
        """The process is over: a final status, or the return window closed with no
        return open."""
        return self.status.is_final or (self.closed and not self.open_returns)

    def progress(self) -> list[str]:
        """Where fulfilment stands, for operators: units shipped, returns open."""
        said = []
        if self.shipments and self.status != OrderStatus.CANCELLED:
            ordered = sum(line.quantity for line in self.lines)
            sent = sum(units.shipped(self.shipments).values())
            if sent < ordered:
                said.append(f"{sent} of {ordered} units shipped")
            if len(self.shipments) > 1 or sent < ordered:
                arrived = sum(1 for s in self.shipments if s.delivered_at is not None)
                said.append(f"{arrived} of {len(self.shipments)} shipments delivered")
        said += [f"return {r.id} open" for r in self.open_returns]
        return said

    def deadline(
        self, durations: Mapping[str, timedelta], *, from_authorization: bool = True
    ) -> Deadline | None:
        """The next thing the order stops waiting for, and when (`domain/lifecycle.py`):
        its status's timer, a shipment's automatic delivery or a return's expiry."""
        found: list[Deadline] = []
        stage = self.status.stage
        if self.finished:
            return None
        since = self.status_since
        if stage.from_authorization and from_authorization and self.authorized_at:
            since = self.authorized_at
        if stage.on_timeout == OnTimeout.DELIVER or self.status == OrderStatus.PARTIALLY_SHIPPED:
            found += [
                Deadline(s.shipped_at + durations["delivery_timeout"], "delivery", s.id)
                for s in self.shipments
                if s.delivered_at is None and s.shipped_at is not None
            ]
        if stage.timer and stage.on_timeout not in {None, OnTimeout.DELIVER} and since:
            if not self.closed:
                found.append(Deadline(since + durations[stage.timer], "status"))
        found += [
            Deadline(r.requested_at + durations["return_receive_timeout"], "return", r.id)
            for r in self.open_returns
        ]
        return min(found, key=lambda d: (d.at, d.kind, d.ref or ""), default=None)

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

    @property
    def _when(self) -> datetime:
        """The decision's time (callers that give none get a fixed one)."""
        return self._now or _EPOCH

    def _enter(self, status: OrderStatus) -> None:
        self.status = status
        self.status_since = self._when

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

    # --- shipments and edits ----------------------------------------------------------------

    def _shipping(self, command: cmd.Ship) -> Units:
        """The units a shipment takes: those named, or every unit not shipped yet."""
        if command.lines is None:
            return self.unshipped
        return units.requested(self.lines, command.lines, self.unshipped, verb="ship")

    def _captured(self, captured: Money) -> cmd.Outcome:
        if self.captured:
            raise InvalidTransition("the payment was captured already")
        if captured.amount <= 0 or captured > Money(self.authorized, self.currency):
            raise InvalidTransition(f"captured {captured} exceeds the authorization")
        self._pay(PaymentStatus.CAPTURED)
        self.captured = captured.amount
        return cmd.Outcome()

    def _ship(self, ship: cmd.Ship) -> cmd.Outcome:
        """Record a shipment and commit its stock: every unit still reserved, when it takes
        them all, else its own units once (keyed by the shipment)."""
        lines = self._shipping(ship)
        first = not self.shipments
        shipment = Shipment(
            ship.carrier, ship.tracking_number, f"S-{len(self.shipments) + 1}", lines, self._when
        )
        self.shipments.append(shipment)
        everything = not self.unshipped
        self._enter(OrderStatus.SHIPPED if everything else OrderStatus.PARTIALLY_SHIPPED)
        new: list[ev.DomainEvent] = [
            ev.OrderShipped(
                carrier=ship.carrier,
                tracking_number=ship.tracking_number,
                shipment_id=shipment.id,
                lines=units.as_data(lines),
            )
        ]
        if first:
            new.append(ev.PaymentCaptured(amount=self.captured))
        commit = (
            cmd.CommitStock() if everything else cmd.CommitStock(lines, f"commit-{shipment.id}")
        )
        return self._record(*new).then(cmd.Outcome(effects=[commit]))

    def _shipment(self, shipment_id: str | None) -> Shipment:
        for shipment in self.shipments:
            if shipment.id == shipment_id:
                return shipment
        raise UnknownShipment(f"the order has no shipment {shipment_id}")

    def _delivering(self, command: cmd.Deliver) -> list[Shipment]:
        """The shipments a delivery takes: the one named, or all (every unit shipped)."""
        if command.shipment_id is not None:
            shipment = self._shipment(command.shipment_id)
            if shipment.delivered_at is not None:
                raise InvalidTransition(f"shipment {shipment.id} is delivered already")
            return [shipment]
        if not self.shipments or self.unshipped:
            raise InvalidTransition("units are still to ship: deliver shipments one by one")
        return [s for s in self.shipments if s.delivered_at is None]

    def _deliver(self, shipments: list[Shipment]) -> cmd.Outcome:
        """Shipments arrived; the order is delivered once every unit has shipped and every
        shipment arrived."""
        arrived = {s.id for s in shipments}
        self.shipments = [
            replace(s, delivered_at=self._when) if s.id in arrived else s for s in self.shipments
        ]
        if self.unshipped or any(s.delivered_at is None for s in self.shipments):
            return self._record(*(ev.ShipmentDelivered(shipment_id=s.id) for s in shipments))
        self._enter(OrderStatus.DELIVERED)
        return self._record(ev.OrderDelivered())

    def _editing(self, command: cmd.Edit) -> tuple[list[OrderLine], Units]:
        if self.shipments and command.actor.type == "customer":
            raise InvalidTransition("after the first shipment only an operator cancels units")
        return units.edited(self.lines, command.lines, units.shipped(self.shipments))

    def _kept_shipped(self, lines: Units) -> Units:
        """Lower each named line to the units it shipped (cancel the rest)."""
        sent = units.shipped(self.shipments)
        return tuple((sku, sent.get(sku, 0)) for sku, _ in lines)

    def _edit(self, command: cmd.Edit) -> cmd.Outcome:
        """Lower quantities: the removed units' stock is released at once; after the
        capture their amount is refunded first (the edit waits for it)."""
        _, removed = self._editing(command)
        if self.captured:
            amount = min(units.amount(self.lines, removed), self.refundable.amount)
            if amount > 0:
                reason = command.reason or "units cancelled"
                return cmd.Outcome(effects=[cmd.Refund(amount, reason, command)])
        return self._apply_edit(command)

    def _apply_edit(self, command: cmd.Edit) -> cmd.Outcome:
        kept, removed = self._editing(command)
        self.lines = kept
        edits = self._count(ev.OrderUpdated) + 1
        changed = [
            {"sku": sku, "quantity": dict((line.sku, line.quantity) for line in kept).get(sku, 0)}
            for sku, _ in removed
        ]
        if self.shipments and not self.unshipped:
            everywhere = all(s.delivered_at is not None for s in self.shipments)
            self._enter(OrderStatus.DELIVERED if everywhere else OrderStatus.SHIPPED)
        updated = self._record(
            ev.OrderUpdated(lines=changed, total=self.total.amount, reason=command.reason)
        )
        delivered = [ev.OrderDelivered()] if self.status == OrderStatus.DELIVERED else []
        release = cmd.ReleaseStock(removed, f"edit-{edits}")
        return updated.then(self._record(*delivered)).then(cmd.Outcome(effects=[release]))

    # --- returns ------------------------------------------------------------------------------

    def _opening(self, command: cmd.OpenReturn) -> Units:
        if self.closed:
            raise ReturnWindowClosed("the return window has closed")
        returnable = units.left(
            [
                replace(line, quantity=units.delivered(self.shipments).get(line.sku, 0))
                for line in self.lines
            ],
            units.claimed(self.returns),
        )
        return units.requested(self.lines, command.lines, returnable, verb="return")

    def _open(self, command: cmd.OpenReturn) -> cmd.Outcome:
        lines = self._opening(command)
        opened = Return(f"R-{len(self.returns) + 1}", lines, command.reason, self._when)
        self.returns.append(opened)
        return self._record(
            ev.ReturnRequested(
                return_id=opened.id, lines=units.as_data(lines), reason=command.reason
            )
        )

    def _open_return(self, return_id: str) -> Return:
        for found in self.returns:
            if found.id == return_id:
                if not found.open:
                    raise InvalidTransition(f"return {return_id} is {found.status}")
                return found
        raise UnknownReturn(f"the order has no return {return_id}")

    def _receive(self, command: cmd.ReceiveReturn) -> cmd.Outcome:
        """The units are back: refund their amount (at most what is left to refund), then
        restock them unless told not to."""
        back = self._open_return(command.return_id)
        amount = min(units.amount(self.lines, back.lines), self.refundable.amount)
        if amount > 0:
            return cmd.Outcome(effects=[cmd.Refund(amount, f"return {back.id}", command)])
        return self._received(command, 0)

    def _received(self, command: cmd.ReceiveReturn, refund: int) -> cmd.Outcome:
        back = self._open_return(command.return_id)
        self._set_return(
            replace(
                back,
                status=ReturnStatus.RECEIVED,
                refund=refund,
                restock=command.restock,
                resolved_at=self._when,
            )
        )
        received = self._record(
            ev.ReturnReceived(return_id=back.id, refund=refund, restock=command.restock)
        )
        if not command.restock:
            return received
        restock = cmd.Restock(back.lines, f"restock-{back.id}")
        return received.then(cmd.Outcome(effects=[restock]))

    def _resolve(self, return_id: str, status: ReturnStatus, reason: str) -> cmd.Outcome:
        back = self._open_return(return_id)
        self._set_return(replace(back, status=status, resolution=reason, resolved_at=self._when))
        if status == ReturnStatus.EXPIRED:
            return self._record(ev.ReturnExpired(return_id=back.id))
        return self._record(ev.ReturnRejected(return_id=back.id, reason=reason))

    def _set_return(self, changed: Return) -> None:
        self.returns = [changed if r.id == changed.id else r for r in self.returns]

    # --- money back ---------------------------------------------------------------------------

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
        closing = cmd.Outcome()
        for back in self.open_returns:
            closing = closing.then(
                self._resolve(back.id, ReturnStatus.REJECTED, "everything was refunded")
            )
        effects: list[cmd.Effect] = [cmd.ReleaseStock()] if self.unshipped else []
        self._enter(OrderStatus.REFUNDED)
        new.append(ev.OrderRefunded())
        return self._record(*new).then(closing).then(cmd.Outcome(effects=effects))

    def _pay(self, status: PaymentStatus, client_secret: str | None = None) -> None:
        """The payment's new status; the customer's secret only while they must act."""
        self.payment = replace(self.payment, status=status, client_secret=client_secret)

    def _expect(self, allowed: set[OrderStatus], action: str) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"cannot {action} an order that is {self.status}")

    def _count(self, kind: type[ev.DomainEvent]) -> int:
        return sum(1 for seen in self.events if isinstance(seen, kind))

    def _record(self, *new: ev.DomainEvent) -> cmd.Outcome:
        """Keep the events, by whom, and tell whom each one concerns (the how-many-th
        time)."""
        stamped = [replace(event, actor=self._actor) for event in new]
        self.events.extend(stamped)
        notify: list[cmd.Effect] = []
        for event in stamped:
            audience = cmd.Audience.CUSTOMER if event.notify else None
            if isinstance(event, ev.ReviewRequired):
                audience = cmd.Audience.OPERATOR
            if audience is not None:
                occurrence = sum(1 for seen in self.events if seen.name == event.name)
                notify.append(cmd.Notify(event.notify or event.name, audience, occurrence))
        return cmd.Outcome(stamped, notify)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
