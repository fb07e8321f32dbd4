"""What each order update asks of the aggregate: the request (a pydantic contract the API
sends) as the domain command, with who sent it. One place, so every update handler is the
same two lines."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.orders import LineRequest
    from domain import commands as cmd
    from domain.values import Actor, Units
    from workflows.contracts import (
        CancelCommand,
        Command,
        Decision,
        DeliverCommand,
        EditCommand,
        OpenReturnCommand,
        ReceiveReturnCommand,
        RefundCommand,
        RejectReturnCommand,
        ShipCommand,
    )


def _units(lines: list[LineRequest]) -> Units:
    return tuple((line.sku, line.quantity) for line in lines)


def _actor(request: Command, default: str = "operator") -> Actor:
    """Who sent it; histories from before requests named their sender get the role that
    could send the command (`default`)."""
    if request.actor is None:
        return Actor(default)
    return Actor(request.actor.type, request.actor.id)


def approve(request: Decision) -> cmd.Command:
    return cmd.Approve(request.reason, actor=_actor(request))


def reject(request: Decision) -> cmd.Command:
    return cmd.Reject(request.reason, actor=_actor(request))


def cancel(request: CancelCommand) -> cmd.Command:
    return cmd.Cancel(request.reason, request.by, actor=_actor(request, request.by))


def ship(request: ShipCommand) -> cmd.Command:
    lines = None if request.lines is None else _units(request.lines)
    return cmd.Ship(request.carrier, request.tracking_number, lines, actor=_actor(request))


def deliver(request: Decision | DeliverCommand) -> cmd.Command:
    shipment = request.shipment_id if isinstance(request, DeliverCommand) else None
    return cmd.Deliver(request.reason, shipment, actor=_actor(request))


def refund(request: RefundCommand) -> cmd.Command:
    return cmd.IssueRefund(request.amount, request.reason, actor=_actor(request))


def edit(request: EditCommand) -> cmd.Command:
    return cmd.Edit(_units(request.lines), request.reason, actor=_actor(request))


def open_return(request: OpenReturnCommand) -> cmd.Command:
    return cmd.OpenReturn(_units(request.lines), request.reason, actor=_actor(request))


def receive_return(request: ReceiveReturnCommand) -> cmd.Command:
    return cmd.ReceiveReturn(request.return_id, request.restock, actor=_actor(request))


def reject_return(request: RejectReturnCommand) -> cmd.Command:
    return cmd.RejectReturn(request.return_id, request.reason, actor=_actor(request))
