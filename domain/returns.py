"""Returns (RMA): opened for delivered units within the return window (R-1, R-2, ...),
received (their amount refunded, then restocked unless told not to), rejected, or expired
when never received (docs/orders.md, "Returns")."""

from __future__ import annotations

from dataclasses import replace

from domain import commands as cmd
from domain import events as ev
from domain import fulfilment as units
from domain.errors import (
    InvalidTransition,
    ReturnWindowClosed,
    UnknownReturn,
)
from domain.order_core import OrderCore
from domain.values import (
    Return,
    ReturnStatus,
    Units,
)


class Returns(OrderCore):
    """The order's returns."""

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
        if status == ReturnStatus.CLOSED:
            return self._record(ev.ReturnClosed(return_id=back.id, reason=reason))
        return self._record(ev.ReturnRejected(return_id=back.id, reason=reason))

    def _set_return(self, changed: Return) -> None:
        self.returns = [changed if r.id == changed.id else r for r in self.returns]
