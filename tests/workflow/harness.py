"""The order process on the time-skipping server with in-memory activity doubles: the
workers for the three queues, placing an order, and skipping time. Shared by the workflow
tests and `make histories` (tests/replay/record.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.orders import LineRequest
from activities.records import OrderRecord
from tests.workflow.fakes import Fakes
from workers.attention import AttentionInterceptor
from workflows.contracts import (
    ActorInput,
    AddressInput,
    DeliverCommand,
    OpenReturnCommand,
    OrderPolicy,
    OrderState,
    PlaceOrderInput,
    ShipCommand,
)
from workflows.notification import NotificationWorkflow
from workflows.order import OrderWorkflow
from workflows.payment import PaymentWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

Order = WorkflowHandle[OrderWorkflow, OrderState]

ADDRESS = AddressInput(name="Ada", line1="1 Main St", city="London", postal_code="N1", country="GB")
OPERATOR = ActorInput(type="operator", id="op_1")
CUSTOMER = ActorInput(type="customer", id="cus_1")
"""Who sends the commands of the fulfilment scenarios (`Harness.place` orders for cus_1)."""


@dataclass(repr=False)
class Harness:
    env: WorkflowEnvironment
    fakes: Fakes
    queues: dict[str, str]
    workers: dict[str, Worker] = field(default_factory=dict)
    runs: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    worker_options: dict[str, object] = field(default_factory=dict)

    def start_worker(self, name: str) -> None:
        """Start the worker for queue `name` (`orders`, `payments` or `notifications`)."""
        worker = Worker(
            self.env.client,
            task_queue=self.queues[name],
            workflows=WORKFLOWS[name],
            activities=self.fakes.activities()[name],
            **self.worker_options,  # type: ignore[arg-type]
        )
        self.workers[name] = worker
        self.runs[name] = asyncio.create_task(worker.run())

    async def stop_worker(self, name: str) -> None:
        await self.workers.pop(name).shutdown()
        await self.runs.pop(name)

    async def restart(self, name: str) -> None:
        """A crash and redeploy of one queue's worker: the new worker has nothing cached, so
        it replays each workflow's history from the start before going on."""
        await self.stop_worker(name)
        self.start_worker(name)

    def policy(self, **overrides: object) -> OrderPolicy:
        return OrderPolicy(
            payments_queue=self.queues["payments"],
            notifications_queue=self.queues["notifications"],
            **overrides,
        )

    async def place(
        self, lines: dict[str, int], order_id: str | None = None, **policy: object
    ) -> tuple[Order, OrderState]:
        order_id = order_id or uuid.uuid4().hex[:12]
        start = WithStartWorkflowOperation(
            OrderWorkflow.run,
            PlaceOrderInput(
                order_id=order_id,
                customer_id="cus_1",
                lines=units(lines),
                shipping_address=ADDRESS,
                payment_method="pm_card_visa",
                policy=self.policy(**policy),
            ),
            id=f"order-{order_id}",
            task_queue=self.queues["orders"],
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        state = await self.env.client.execute_update_with_start_workflow(
            OrderWorkflow.accepted, start_workflow_operation=start
        )
        handle = self.env.client.get_workflow_handle_for(
            OrderWorkflow.run,  # type: ignore[arg-type]
            f"order-{order_id}",
        )
        return handle, state


WORKFLOWS: dict[str, list[type]] = {
    "orders": [OrderWorkflow],
    "payments": [PaymentWorkflow],
    "notifications": [NotificationWorkflow, WebhookDeliveryWorkflow],
}


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, fakes: Fakes, **worker_options: object
) -> AsyncIterator[Harness]:
    """Workers for the three queues, on queue names of their own, with `fakes` as activities
    (`worker_options` go to each Worker)."""
    queues = {name: f"{name}-{uuid.uuid4()}" for name in WORKFLOWS}
    worker_options = {"interceptors": [AttentionInterceptor(5)], **worker_options}  # as deployed
    harness = Harness(env, fakes, queues, worker_options=worker_options)
    try:
        for name in queues:
            harness.start_worker(name)
        yield harness
    finally:
        for name in list(harness.workers):
            await harness.stop_worker(name)


async def wait_status(handle: Order, status: str) -> OrderState:
    """Poll the workflow's state (queries do not skip time) until it reaches `status`."""
    state = await handle.query(OrderWorkflow.state)
    for _ in range(200):
        if state.status == status:
            return state
        await asyncio.sleep(0.05)
        state = await handle.query(OrderWorkflow.state)
    raise AssertionError(f"never reached {status}; still {state.status}")


async def skip_until_done(harness: Harness, handle: Order, span: timedelta) -> OrderState:
    """Skip up to `span` of workflow time and return the workflow's result.

    The Java test server sometimes leaves its sleep RPC hanging after time has reached the
    target, so the sleep runs beside a poll of the workflow and is dropped once it is done.
    """
    sleeper = asyncio.create_task(harness.env.sleep(span))
    try:
        for _ in range(400):
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.05)
        return await asyncio.wait_for(handle.result(), timeout=10)
    finally:
        sleeper.cancel()
        with contextlib.suppress(asyncio.CancelledError, RPCError):
            await sleeper


def units(lines: dict[str, int]) -> list[LineRequest]:
    """Some units of an order's lines, as commands name them."""
    return [LineRequest(sku=sku, quantity=quantity) for sku, quantity in lines.items()]


async def ship(
    handle: Order, lines: dict[str, int] | None = None, tracking_number: str = "1"
) -> OrderState:
    """An operator ships `lines` (None: every unit not shipped yet)."""
    command = ShipCommand(
        carrier="DHL",
        tracking_number=tracking_number,
        lines=None if lines is None else units(lines),
        actor=OPERATOR,
    )
    return await handle.execute_update(OrderWorkflow.ship, command)


async def deliver(handle: Order, shipment_id: str | None = None) -> OrderState:
    """An operator confirms one shipment delivered (None: every shipment)."""
    command = DeliverCommand(shipment_id=shipment_id, actor=OPERATOR)
    return await handle.execute_update(OrderWorkflow.deliver, command)


async def open_return(
    handle: Order, lines: dict[str, int], reason: str = "too small"
) -> OrderState:
    """The customer asks to return some delivered units."""
    command = OpenReturnCommand(lines=units(lines), reason=reason, actor=CUSTOMER)
    return await handle.execute_update(OrderWorkflow.open_return, command)


async def delivered_order(
    harness: Harness, lines: dict[str, int], **policy: object
) -> tuple[Order, OrderState]:
    """An order placed, shipped whole and confirmed delivered by an operator."""
    handle, accepted = await harness.place(lines, **policy)
    await ship_and_deliver(handle)
    return handle, accepted


async def ship_and_deliver(handle: Order) -> OrderState:
    """Once the order is confirmed, an operator ships it whole and confirms it delivered."""
    await wait_status(handle, "confirmed")
    await ship(handle)
    return await deliver(handle)


async def settled(handle: Order) -> None:
    """Wait in real time until the workflow has nothing in flight (no workflow task or
    activity pending, its history no longer growing): after skipping time, so that an
    update sent next comes after what the timers decided, not in the same workflow task."""
    length = -1
    for _ in range(200):
        described = await handle.describe()
        raw = described.raw_description
        busy = bool(raw.pending_activities) or raw.HasField("pending_workflow_task")
        if described.status != WorkflowExecutionStatus.RUNNING:
            return
        if not busy and described.history_length == length:
            return
        length = described.history_length
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never settled")


async def wait_record(
    handle: Order, check: Callable[[OrderRecord], bool], what: str
) -> OrderRecord:
    """Poll the record the workflow last wrote (queries do not skip time) until `check`."""
    record = None
    for _ in range(200):
        record = (await handle.query(OrderWorkflow.state)).record
        if record is not None and check(record):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"the record never showed {what}; last {record}")
