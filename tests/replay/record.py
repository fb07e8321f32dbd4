"""`make histories`: run each workflow's main paths on the time-skipping server with
activity doubles and write their histories to tests/histories/ for the replay tests.

Re-record only for a deliberate, compatible change (or a new path); a change that breaks
old histories must be made with `workflow.patched` instead, and the replay test says so.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.orders import LineRequest
from tests.conftest import BIN, register_search_attributes
from tests.workflow.fakes import Fakes
from workflows.notification import NotificationWorkflow
from workflows.order import (
    AddressInput,
    CancelCommand,
    Decision,
    OrderPolicy,
    OrderState,
    OrderWorkflow,
    PlaceOrderInput,
    RefundCommand,
    ShipCommand,
)
from workflows.payment import PaymentWebhook, PaymentWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
Order = WorkflowHandle[OrderWorkflow, OrderState]


async def wait_status(handle: Order, status: str) -> None:
    for _ in range(400):
        if (await handle.query(OrderWorkflow.state)).status == status:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{handle.id} never reached {status}")


async def finish(env: WorkflowEnvironment, handle: Order, span: timedelta) -> None:
    """Skip time until the order is done (see tests/workflow for why the sleep is dropped)."""
    sleeper = asyncio.create_task(env.sleep(span))
    try:
        await asyncio.wait_for(handle.result(), timeout=30)
    finally:
        sleeper.cancel()


async def happy(env: WorkflowEnvironment, handle: Order, fakes: Fakes) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="1"))
    await handle.execute_update(OrderWorkflow.deliver, Decision())
    await finish(env, handle, timedelta(days=31))


async def declined(env: WorkflowEnvironment, handle: Order, fakes: Fakes) -> None:
    await handle.result()


async def three_d_secure(env: WorkflowEnvironment, handle: Order, fakes: Fakes) -> None:
    await wait_status(handle, "payment_action_required")
    fakes.intent_status = "requires_capture"
    payment = env.client.get_workflow_handle(f"payment-{handle.id.removeprefix('order-')}")
    await payment.signal(
        PaymentWorkflow.stripe_event, PaymentWebhook(event_id="evt_1", type="payment_intent")
    )
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
    await handle.result()


async def review(env: WorkflowEnvironment, handle: Order, fakes: Fakes) -> None:
    await wait_status(handle, "under_review")
    await handle.execute_update(OrderWorkflow.approve, Decision())
    await finish(env, handle, timedelta(days=7))  # fulfilment timeout cancels


async def cancel(env: WorkflowEnvironment, handle: Order, fakes: Fakes) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
    await handle.result()


async def refund(env: WorkflowEnvironment, handle: Order, fakes: Fakes) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="UPS", tracking_number="1"))
    await handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=1000, reason="late"))
    await handle.execute_update(OrderWorkflow.refund, RefundCommand(reason="returned"))
    await handle.result()


Scenario = Callable[[WorkflowEnvironment, Order, Fakes], Awaitable[None]]
SCENARIOS: dict[str, tuple[dict[str, int], dict[str, object], Scenario]] = {
    "happy": ({"TSHIRT": 2}, {}, happy),
    "declined": ({"MUG": 1}, {"decline": True}, declined),
    "three_d_secure": ({"TSHIRT": 1}, {"intent_status": "requires_action"}, three_d_secure),
    "review": ({"MACHINE": 1}, {}, review),
    "cancel": ({"TSHIRT": 3}, {}, cancel),
    "refund": ({"TSHIRT": 2}, {}, refund),
}


async def record(name: str, client: Client, env: WorkflowEnvironment) -> None:
    lines, setup, scenario = SCENARIOS[name]
    fakes = Fakes(**setup)  # type: ignore[arg-type]
    acts = fakes.activities()
    queues = {queue: f"{queue}-{uuid.uuid4()}" for queue in acts}
    workflows = {
        "orders": [OrderWorkflow],
        "payments": [PaymentWorkflow],
        "notifications": [NotificationWorkflow],
    }
    order_id = f"{name}-{uuid.uuid4().hex[:6]}"
    async with AsyncExitStack() as stack:
        for queue, task_queue in queues.items():
            await stack.enter_async_context(
                Worker(
                    client,
                    task_queue=task_queue,
                    workflows=workflows[queue],
                    activities=acts[queue],
                )
            )
        start = WithStartWorkflowOperation(
            OrderWorkflow.run,
            PlaceOrderInput(
                order_id=order_id,
                customer_id="cus_1",
                lines=[LineRequest(sku=s, quantity=q) for s, q in lines.items()],
                shipping_address=AddressInput(
                    name="Ada", line1="1 Main St", city="London", postal_code="N1", country="GB"
                ),
                payment_method="pm_card_visa",
                policy=OrderPolicy(
                    payments_queue=queues["payments"], notifications_queue=queues["notifications"]
                ),
            ),
            id=f"order-{order_id}",
            task_queue=queues["orders"],
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        await client.execute_update_with_start_workflow(
            OrderWorkflow.accepted, start_workflow_operation=start
        )
        handle: Order = client.get_workflow_handle_for(
            OrderWorkflow.run,  # type: ignore[arg-type]
            f"order-{order_id}",
        )
        await scenario(env, handle, fakes)
        payment = client.get_workflow_handle(f"payment-{order_id}")
        await asyncio.wait_for(payment.result(), timeout=30)
        for kind, wf in (("order", handle), ("payment", payment)):
            history = await wf.fetch_history()
            (HISTORIES / f"{kind}-{name}.json").write_text(history.to_json())
        notification = client.get_workflow_handle(f"notification-{order_id}-order_accepted-email")
        history = await notification.fetch_history()
        (HISTORIES / f"notification-{name}.json").write_text(history.to_json())


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    for name in names or list(SCENARIOS):
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=str(BIN / "temporal-test-server"),
        )
        try:
            await register_search_attributes(env.client)
            await record(name, env.client, env)
            print(f"recorded {name}")
        finally:
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
