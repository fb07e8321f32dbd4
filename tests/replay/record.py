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
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import BIN, register_search_attributes
from tests.workflow.fakes import Fakes
from tests.workflow.harness import Harness, Order, running, skip_until_done, wait_status
from workflows.contracts import CancelCommand, Decision, PaymentWebhook, RefundCommand, ShipCommand
from workflows.order import OrderWorkflow
from workflows.payment import PaymentWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


async def happy(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="1"))
    await handle.execute_update(OrderWorkflow.deliver, Decision())
    await skip_until_done(h, handle, timedelta(days=31))


async def declined(h: Harness, handle: Order) -> None:
    await handle.result()


async def three_d_secure(h: Harness, handle: Order) -> None:
    await wait_status(handle, "payment_action_required")
    h.fakes.intent_status = "requires_capture"
    payment = h.env.client.get_workflow_handle(f"payment-{handle.id.removeprefix('order-')}")
    await payment.signal(
        PaymentWorkflow.stripe_event, PaymentWebhook(event_id="evt_1", type="payment_intent")
    )
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
    await handle.result()


async def review(h: Harness, handle: Order) -> None:
    await wait_status(handle, "under_review")
    await handle.execute_update(OrderWorkflow.approve, Decision())
    await skip_until_done(h, handle, timedelta(days=7))  # fulfilment timeout cancels


async def cancel(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
    await handle.result()


async def refund(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="UPS", tracking_number="1"))
    await handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=1000, reason="late"))
    await handle.execute_update(OrderWorkflow.refund, RefundCommand(reason="returned"))
    await handle.result()


Scenario = Callable[[Harness, Order], Awaitable[None]]
SCENARIOS: dict[str, tuple[dict[str, int], dict[str, object], Scenario]] = {
    "happy": ({"TSHIRT": 2}, {}, happy),
    "declined": ({"MUG": 1}, {"decline": True}, declined),
    "three_d_secure": ({"TSHIRT": 1}, {"intent_status": "requires_action"}, three_d_secure),
    "review": ({"MACHINE": 1}, {}, review),
    "cancel": ({"TSHIRT": 3}, {}, cancel),
    "refund": ({"TSHIRT": 2}, {}, refund),
}


async def record(name: str, env: WorkflowEnvironment) -> None:
    lines, setup, scenario = SCENARIOS[name]
    order_id = f"{name}-{uuid.uuid4().hex[:6]}"
    client = env.client
    async with running(env, Fakes(**setup)) as h:  # type: ignore[arg-type]
        handle, _ = await h.place(lines, order_id=order_id)
        await scenario(h, handle)
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
            await record(name, env)
            print(f"recorded {name}")
        finally:
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
