"""The order workflow's commands: one Temporal update each (cancel, approve, reject, ship,
deliver, refund, edit, and the returns'), with a validator that asks the aggregate first,
so a refused command never enters the history. `OrderWorkflow` (workflows/order.py)
inherits them; each request becomes its domain command in workflows/order_requests.py.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import commands as cmd
    from domain.errors import DomainError
    from domain.orders import Order
    from workflows import order_requests as asked
    from workflows.command_keys import CommandKeys
    from workflows.contracts import (
        CancelCommand,
        Command,
        Decision,
        DeliverCommand,
        EditCommand,
        OpenReturnCommand,
        OrderState,
        ReceiveReturnCommand,
        RefundCommand,
        RejectReturnCommand,
        ShipCommand,
    )
    from workflows.order_steps import refusal


class OrderCommands:
    """The updates; the workflow gives the lock, the keys, the order and how to perform."""

    _lock: asyncio.Lock
    _keys: CommandKeys

    def _require_order(self) -> Order:
        raise NotImplementedError

    async def _perform(self, outcome: cmd.Outcome) -> None:
        raise NotImplementedError

    def state(self) -> OrderState:
        raise NotImplementedError

    @workflow.update
    async def cancel(self, request: CancelCommand) -> OrderState:
        return await self._command(request, asked.cancel(request))

    @cancel.validator
    def _validate_cancel(self, request: CancelCommand) -> None:
        self._check(request, asked.cancel(request))

    @workflow.update
    async def approve(self, request: Decision) -> OrderState:
        return await self._command(request, asked.approve(request))

    @approve.validator
    def _validate_approve(self, request: Decision) -> None:
        self._check(request, asked.approve(request))

    @workflow.update
    async def reject(self, request: Decision) -> OrderState:
        return await self._command(request, asked.reject(request))

    @reject.validator
    def _validate_reject(self, request: Decision) -> None:
        self._check(request, asked.reject(request))

    @workflow.update
    async def ship(self, request: ShipCommand) -> OrderState:
        """Ship some or all unshipped units; the first shipment captures the payment."""
        return await self._command(request, asked.ship(request))

    @ship.validator
    def _validate_ship(self, request: ShipCommand) -> None:
        self._check(request, asked.ship(request))

    @workflow.update
    async def deliver(self, request: DeliverCommand) -> OrderState:
        """One shipment delivered, or every one."""
        return await self._command(request, asked.deliver(request))

    @deliver.validator
    def _validate_deliver(self, request: DeliverCommand) -> None:
        self._check(request, asked.deliver(request))

    @workflow.update
    async def refund(self, request: RefundCommand) -> OrderState:
        """Refund part or all of the captured amount; a full refund ends as refunded."""
        return await self._command(request, asked.refund(request))

    @refund.validator
    def _validate_refund(self, request: RefundCommand) -> None:
        self._check(request, asked.refund(request))

    @workflow.update
    async def edit(self, request: EditCommand) -> OrderState:
        """Lower quantities or remove lines (units not shipped yet)."""
        return await self._command(request, asked.edit(request))

    @edit.validator
    def _validate_edit(self, request: EditCommand) -> None:
        self._check(request, asked.edit(request))

    @workflow.update
    async def open_return(self, request: OpenReturnCommand) -> OrderState:
        return await self._command(request, asked.open_return(request))

    @open_return.validator
    def _validate_open_return(self, request: OpenReturnCommand) -> None:
        self._check(request, asked.open_return(request))

    @workflow.update
    async def receive_return(self, request: ReceiveReturnCommand) -> OrderState:
        """Receive a return: restock (by default) and refund its lines' amount."""
        return await self._command(request, asked.receive_return(request))

    @receive_return.validator
    def _validate_receive_return(self, request: ReceiveReturnCommand) -> None:
        self._check(request, asked.receive_return(request))

    @workflow.update
    async def reject_return(self, request: RejectReturnCommand) -> OrderState:
        return await self._command(request, asked.reject_return(request))

    @reject_return.validator
    def _validate_reject_return(self, request: RejectReturnCommand) -> None:
        self._check(request, asked.reject_return(request))

    def _check(self, request: Command, command: cmd.Command) -> None:
        """A command's validator: the aggregate's check, unless its key was seen before
        with the same request (then it answers the current state and does nothing)."""
        try:
            if not self._keys.seen(request):
                command.check_text()
                self._require_order().check(command)
        except DomainError as error:
            raise refusal(error) from None

    async def _command(self, request: Command, command: cmd.Command) -> OrderState:
        async with self._lock:
            try:
                if self._keys.seen(request):
                    return self.state()
                await self._perform(self._require_order().decide(command, workflow.now()))
            except DomainError as error:
                raise refusal(error) from None
            self._keys.remember(request)
        return self.state()
