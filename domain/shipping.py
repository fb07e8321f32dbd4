"""Shipments and edits: an order ships in one or more shipments (S-1, S-2, ...), the
first capturing the current total; each is delivered on its own; quantities are lowered
before the first shipment, or units not shipped cancelled and refunded after it
(docs/orders.md, "Shipments, edits and returns")."""

from __future__ import annotations

from dataclasses import replace

from domain import commands as cmd
from domain import events as ev
from domain import fulfilment as units
from domain.errors import (
    InvalidTransition,
    UnknownShipment,
)
from domain.lifecycle import OrderStatus, PaymentStatus
from domain.money import Money
from domain.order_core import OrderCore
from domain.values import (
    OrderLine,
    Shipment,
    Units,
)


class Shipping(OrderCore):
    """The order's shipments and edits."""

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
