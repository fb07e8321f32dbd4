"""The order's line to its payment child: start it, send it commands, take its reports.

The order never waits on a process that is gone: `next` also ends when the payment child
ends (however it ends, terminated included) and a signal to a payment that is gone counts
as its end.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from domain.commands import PaymentUpdate
    from workflows.contracts import PaymentCommand, PaymentInput, PaymentReport
    from workflows.names import payment_workflow_id
    from workflows.payment import PaymentWorkflow


class PaymentLink:
    """One order's payment child (`payment-{order_id}`) as the order sees it."""

    def __init__(self) -> None:
        self._handle: workflow.ChildWorkflowHandle[PaymentWorkflow, object] | None = None
        self._reports: list[PaymentReport] = []
        self.done = False
        """The child has ended (or cannot be reached): no report will come any more."""
        self._ended = ""

    @property
    def open(self) -> bool:
        return self._handle is not None and not self.done

    async def start(self, inp: PaymentInput, task_queue: str) -> None:
        self._handle = await workflow.start_child_workflow(
            PaymentWorkflow.run,
            inp,
            id=payment_workflow_id(inp.order_id),
            task_queue=task_queue,
            static_summary=f"Payment for order {inp.order_id}",
        )
        asyncio.create_task(self._watch())  # noqa: RUF006 - the workflow's own task, ends with it

    def reported(self, report: PaymentReport) -> None:
        self._reports.append(report)

    async def send(self, command: PaymentCommand) -> None:
        """Signal the payment; one that is gone counts as ended (the wait for its report
        then ends at once)."""
        assert self._handle is not None
        if self.done:
            return
        try:
            await self._handle.signal(PaymentWorkflow.command, command)
        except ApplicationError as error:  # ExternalWorkflowExecutionNotFound
            self._ended = f"the payment process ended: {error}"
            self.done = True

    async def ask(self, command: PaymentCommand, kinds: set[str], *, ended: str) -> PaymentUpdate:
        """Send `command` and wait for its outcome, one of `kinds`."""
        await self.send(command)
        return await self.next(kinds, ended=ended)

    async def next(
        self, kinds: set[str] | frozenset[str], *, ended: str, intent_id: str | None = None
    ) -> PaymentUpdate:
        """The payment's next report of one of `kinds`; if the payment process ends without
        one, a report of kind `ended` saying so."""
        await workflow.wait_condition(
            lambda: self.done or any(r.kind in kinds for r in self._reports)
        )
        report = next((r for r in self._reports if r.kind in kinds), None)
        if report is None:
            return PaymentUpdate(kind=ended, intent_id=intent_id, reason=self._ended)
        self._reports.remove(report)
        return PaymentUpdate(**report.model_dump())

    async def ended(self) -> None:
        """Until the payment child has ended, or a signal found it gone."""
        await workflow.wait_condition(lambda: self.done)

    async def _watch(self) -> None:
        """Note when the payment child ends, however it ends."""
        assert self._handle is not None
        try:
            await self._handle
            self._ended = "the payment process ended"
        except ChildWorkflowError as error:
            self._ended = f"the payment process ended: {error.cause or error}"
        self.done = True
