"""No-op workflows with the engine's happy-path shape, for the baseline of `make bench`.

Per order, as in the engine (counted from a real history, docs/performance.md): an order
workflow doing reserve_stock and record_order four times as local activities (the engine's
PostgreSQL steps are local activities) and commit_stock as a regular one (the engine's stock
moves are, so they happen only once their decision is recorded), with the engine's one
patch marker (the order's code, asked first); a payment child doing
authorize and capture and talking to its parent by signals; one notification workflow per
customer event (accepted, confirmed, shipped, delivered) doing send_email as a local
activity in its first workflow task, started through
the worker's client, not as a child, by the record_order step (accepted: by a regular
activity the `accepted` answer does not wait for), as the engine does, its channels
chosen by that step (no step of its own, no patch); the same
search-attribute upserts and timers; update-with-start for `accepted`, updates for ship and
deliver. The payments queue is rate-limited like the engine's (`worker_options`), so its
activities are not dispatched eagerly on either side. Every activity returns at once, so
what is left is Temporal, the SDK and HTTP.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from bench.baseline_contracts import BaselineState, PaymentStart, Report, Step
    from workflows.contracts import PlaceOrderInput
    from workflows.names import CUSTOMER_ID, ORDER_STATUS, ORDER_TOTAL, PAYMENT_STATUS
    from workflows.order_steps import ORDER_CODE

STEP = timedelta(seconds=15)
WAITS = {"confirmed": timedelta(days=6), "shipped": timedelta(days=30)}
REFUND_WINDOW = timedelta(days=30)
NOTIFICATION_WINDOW = timedelta(hours=24)


async def _start_notification(step: Step) -> None:
    try:
        await activity.client().start_workflow(
            "BaselineNotificationWorkflow",
            Step(order_id=step.order_id, what=step.notify or ""),
            id=f"notification-{step.order_id}-{step.notify}-1",
            task_queue=step.queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass


class NoOpActivities:
    """The engine's activity names on the baseline queues; each returns immediately."""

    @activity.defn
    async def reserve_stock(self, step: Step) -> Step:
        return step

    @activity.defn
    async def record_order(self, step: Step) -> Step:
        """Starts the step's notification, as the engine's record step does."""
        if step.notify is not None:
            await _start_notification(step)
        return step

    @activity.defn
    async def start_notifications(self, step: Step) -> Step:
        """The placing's notification, as the engine starts it: a regular activity."""
        await _start_notification(step)
        return step

    @activity.defn
    async def commit_stock(self, step: Step) -> Step:
        return step

    @activity.defn
    async def authorize_payment(self, step: Step) -> Step:
        return step

    @activity.defn
    async def capture_payment(self, step: Step) -> Step:
        return step

    @activity.defn
    async def send_email(self, step: Step) -> Step:
        return step


@workflow.defn
class BaselineNotificationWorkflow:
    @workflow.run
    async def run(self, step: Step) -> Step:
        """The send in the first workflow task, inside the window's timer, as the engine's."""
        sending = workflow.execute_local_activity_method(
            NoOpActivities.send_email, step, start_to_close_timeout=STEP
        )
        return await asyncio.wait_for(sending, NOTIFICATION_WINDOW.total_seconds())


@workflow.defn
class BaselinePaymentWorkflow:
    @workflow.init
    def __init__(self, inp: PaymentStart) -> None:
        self._commands: list[str] = []

    @workflow.run
    async def run(self, inp: PaymentStart) -> None:
        workflow.upsert_search_attributes(
            [CUSTOMER_ID.value_set(inp.customer_id), ORDER_TOTAL.value_set(inp.amount)]
        )
        workflow.upsert_search_attributes([PAYMENT_STATUS.value_set("authorizing")])
        await workflow.execute_activity_method(
            NoOpActivities.authorize_payment,
            Step(order_id=inp.order_id),
            start_to_close_timeout=STEP,
        )
        workflow.upsert_search_attributes([PAYMENT_STATUS.value_set("authorized")])
        await self._report("authorized")
        await workflow.wait_condition(lambda: "capture" in self._commands)
        await workflow.execute_activity_method(
            NoOpActivities.capture_payment, Step(order_id=inp.order_id), start_to_close_timeout=STEP
        )
        workflow.upsert_search_attributes([PAYMENT_STATUS.value_set("captured")])
        await self._report("captured")
        await workflow.wait_condition(lambda: "close" in self._commands)

    @workflow.signal
    def command(self, kind: str) -> None:
        self._commands.append(kind)

    async def _report(self, kind: str) -> None:
        parent = workflow.info().parent
        assert parent is not None
        await workflow.get_external_workflow_handle(parent.workflow_id).signal(
            "payment_report", Report(kind=kind)
        )


@workflow.defn
class BaselineOrderWorkflow:
    @workflow.init
    def __init__(self, inp: PlaceOrderInput) -> None:
        self._inp = inp
        self._status = "pending"
        self._reports: list[str] = []
        self._payment: workflow.ChildWorkflowHandle[BaselinePaymentWorkflow, None] | None = None

    @workflow.run
    async def run(self, inp: PlaceOrderInput) -> BaselineState:
        workflow.patched(ORDER_CODE)  # the engine's one patch marker, first
        await self._act(NoOpActivities.reserve_stock)
        await self._act(NoOpActivities.record_order, "accepted")
        self._status = "accepted"
        self._upsert("accepted")
        queue = inp.policy.notifications_queue
        placed = Step(order_id=inp.order_id, notify="order_accepted", queue=queue)
        notifying = workflow.start_activity_method(  # `accepted` answers without waiting
            NoOpActivities.start_notifications, placed, start_to_close_timeout=STEP
        )
        try:
            await self._rest(inp)
        finally:
            await notifying
        return self.state()

    async def _rest(self, inp: PlaceOrderInput) -> None:
        self._payment = await workflow.start_child_workflow(
            BaselinePaymentWorkflow.run,
            PaymentStart(order_id=inp.order_id, customer_id=inp.customer_id, amount=400),
            id=f"payment-{inp.order_id}",
            task_queue=inp.policy.payments_queue,
        )
        await self._next_report("authorized")
        await self._publish("confirmed", "order_confirmed")
        for status, wait in WAITS.items():
            try:
                await self._leaving(status, wait)
            except TimeoutError:
                return
        try:  # the engine keeps a delivered order open for refunds
            await workflow.wait_condition(lambda: False, timeout=REFUND_WINDOW)
        except TimeoutError:
            pass

    @workflow.update
    async def accepted(self) -> BaselineState:
        await workflow.wait_condition(lambda: self._status != "pending")
        return self.state()

    @workflow.update
    async def ship(self) -> BaselineState:
        assert self._payment is not None
        await self._payment.signal(BaselinePaymentWorkflow.command, "capture")
        await self._next_report("captured")
        # the stock step: a regular activity
        await workflow.execute_activity_method(
            NoOpActivities.commit_stock,
            Step(order_id=self._inp.order_id),
            start_to_close_timeout=STEP,
        )
        await self._publish("shipped", "order_shipped")
        return self.state()

    @ship.validator
    def _validate_ship(self) -> None:
        if self._status != "confirmed":
            raise ValueError(f"cannot ship an order that is {self._status}")

    @workflow.update
    async def deliver(self) -> BaselineState:
        await self._publish("delivered", "order_delivered")
        return self.state()

    @deliver.validator
    def _validate_deliver(self) -> None:
        if self._status != "shipped":
            raise ValueError(f"cannot deliver an order that is {self._status}")

    @workflow.signal
    def payment_report(self, report: Report) -> None:
        self._reports.append(report.kind)

    def state(self) -> BaselineState:
        return BaselineState(order_id=self._inp.order_id, status=self._status)

    async def _leaving(self, status: str, wait: timedelta) -> None:
        """Until the order leaves `status`; TimeoutError after `wait`, as the engine's timers."""
        await workflow.wait_condition(lambda: self._status != status, timeout=wait)

    async def _next_report(self, kind: str) -> None:
        await workflow.wait_condition(lambda: kind in self._reports)
        self._reports.remove(kind)

    async def _act(
        self, activity_method: object, what: str = "", notify: str | None = None
    ) -> None:
        """A PostgreSQL step of the engine: a local activity there, so one here too."""
        queue = self._inp.policy.notifications_queue
        await workflow.execute_local_activity_method(
            activity_method,  # type: ignore[arg-type]
            Step(order_id=self._inp.order_id, what=what, notify=notify, queue=queue),
            start_to_close_timeout=STEP,
        )

    async def _publish(self, status: str, event: str) -> None:
        """Like the engine's `publish`: read model (its step starting the notification, not
        a child), search attributes."""
        await self._act(NoOpActivities.record_order, status, notify=event)
        self._status = status
        self._upsert(status)

    def _upsert(self, status: str) -> None:
        workflow.upsert_search_attributes(
            [
                ORDER_STATUS.value_set(status),
                PAYMENT_STATUS.value_set("authorized" if status != "accepted" else "pending"),
                CUSTOMER_ID.value_set(self._inp.customer_id),
                ORDER_TOTAL.value_set(400),
            ]
        )
