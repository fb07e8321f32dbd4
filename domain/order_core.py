"""What an order holds (lines, money, payment, shipments, returns, its events) and what
can be read from it: totals, units not shipped, whether its process is over, and its next
deadline. The decisions are in `domain/orders.py` (with `domain/shipping.py` and
`domain/returns.py`); this is the state they share and the way they record events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from domain import commands as cmd
from domain import events as ev
from domain import fulfilment as units
from domain.errors import (
    InvalidTransition,
)
from domain.lifecycle import Deadline, OnTimeout, OrderStatus, Payment, PaymentStatus
from domain.money import Money
from domain.values import (
    SYSTEM,
    Actor,
    Address,
    OrderLine,
    Return,
    Shipment,
    Units,
)


@dataclass
class OrderCore:
    """An order's state, its events, and the context of the decision being made."""

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

    @property
    def _when(self) -> datetime:
        """The decision's time (callers that give none get a fixed one)."""
        return self._now or _EPOCH

    def _enter(self, status: OrderStatus) -> None:
        self.status = status
        self.status_since = self._when

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
