"""`make histories`: run each workflow's main paths on the time-skipping server with
activity doubles and write their histories to tests/histories/ for the replay tests.

Re-record only for a deliberate, compatible change (or a new path); a change that breaks
old histories must be made with `workflow.patched` instead, and the replay test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import sys
import typing
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.maintenance import CleanupInput, CleanupResult
from activities.reconciliation import ReconcileInput, ReconcileResult
from activities.webhooks import WebhookFailure, WebhookResult
from domain.payments import IntentStatus
from tests.conftest import BIN, register_search_attributes
from tests.workflow.fake_gateway import Script
from tests.workflow.fakes import Fakes
from tests.workflow.harness import (
    CUSTOMER,
    OPERATOR,
    Harness,
    Order,
    deliver,
    open_return,
    running,
    ship,
    ship_and_deliver,
    skip_until_done,
    units,
    wait_status,
)
from workflows.contracts import (
    CancelCommand,
    Decision,
    EditCommand,
    PaymentWebhook,
    ReceiveReturnCommand,
    RefundCommand,
    RejectReturnCommand,
    ShipCommand,
)
from workflows.maintenance import IdempotencyCleanupWorkflow, WebhookRetentionWorkflow
from workflows.notification import event_notification_id
from workflows.order import OrderWorkflow
from workflows.payment import PaymentWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.webhook_contracts import (
    WebhookDelivery,
    new_delivery_id,
    webhook_delivery_workflow_id,
)
from workflows.webhook_delivery import WebhookDeliveryWorkflow

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
    h.fakes.intent_status = IntentStatus.AUTHORIZED
    payment = h.env.client.get_workflow_handle(f"payment-{handle.id.removeprefix('order-')}")
    await payment.signal(
        PaymentWorkflow.provider_event, PaymentWebhook(event_id="evt_1", type="payment_intent")
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


async def reject(h: Harness, handle: Order) -> None:
    await wait_status(handle, "under_review")
    await handle.execute_update(OrderWorkflow.reject, Decision(reason="fraud check"))
    await handle.result()


async def review_timeout(h: Harness, handle: Order) -> None:
    await wait_status(handle, "under_review")
    await skip_until_done(h, handle, timedelta(hours=25))


async def three_d_secure_expired(h: Harness, handle: Order) -> None:
    await wait_status(handle, "payment_action_required")
    await skip_until_done(h, handle, timedelta(minutes=31))


async def cancel_authorizing(h: Harness, handle: Order) -> None:
    """Cancelled before the authorization reported back (it is slow at the provider)."""
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
    h.fakes.scripts[order_id(handle)].transient.clear()
    await skip_until_done(h, handle, timedelta(minutes=5))


async def cancel_three_d_secure(h: Harness, handle: Order) -> None:
    await wait_status(handle, "payment_action_required")
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
    await skip_until_done(h, handle, timedelta(minutes=31))


async def capture_failed(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    with contextlib.suppress(WorkflowUpdateFailedError):
        await handle.execute_update(
            OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="1")
        )
    await skip_until_done(h, handle, timedelta(days=7))  # fulfilment timeout cancels


async def refund_failed(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="1"))
    with contextlib.suppress(WorkflowUpdateFailedError):
        await handle.execute_update(OrderWorkflow.refund, RefundCommand(reason="damaged"))
    await handle.execute_update(OrderWorkflow.deliver, Decision())
    await skip_until_done(h, handle, timedelta(days=31))


async def delivery_timeout(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="UPS", tracking_number="1"))
    await h.env.sleep(timedelta(days=31))  # delivered automatically
    await skip_until_done(h, handle, timedelta(days=31))  # then the refund window closes


async def out_of_stock(h: Harness, handle: Order) -> None:
    await handle.result()


async def refund_replay(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="UPS", tracking_number="1"))
    command = RefundCommand(amount=1000, reason="late", idempotency_key="k1", request_hash="h1")
    await handle.execute_update(OrderWorkflow.refund, command)
    await handle.execute_update(OrderWorkflow.refund, command)  # answered, nothing refunded
    await handle.execute_update(OrderWorkflow.refund, RefundCommand(reason="returned"))
    await handle.result()


async def notification_gives_up(h: Harness, handle: Order) -> None:
    await wait_status(handle, "confirmed")
    # SMTP stays down past the 24 h retry window while the order waits for shipment (the
    # test server skips time only while a timer is left before the sleep's target)
    await h.env.sleep(timedelta(hours=25))
    notification = h.env.client.get_workflow_handle(
        event_notification_id(order_id(handle), "order_accepted", 1)
    )
    if (await notification.describe()).status == WorkflowExecutionStatus.RUNNING:
        raise AssertionError("the notification did not give up after its window")
    await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
    await handle.result()


async def split_shipment(h: Harness, handle: Order) -> None:
    """Two shipments (the first captures the whole total), each delivered on its own."""
    await wait_status(handle, "confirmed")
    await ship(handle, {"TSHIRT": 2})
    await ship(handle, tracking_number="2")
    await deliver(handle, "S-1")
    await deliver(handle, "S-2")
    await skip_until_done(h, handle, timedelta(days=31))


async def edit_before_shipment(h: Harness, handle: Order) -> None:
    """The customer lowers a line and removes another; the capture takes the new total."""
    await wait_status(handle, "confirmed")
    edit = EditCommand(lines=units({"TSHIRT": 1, "MUG": 0}), actor=CUSTOMER)
    await handle.execute_update(OrderWorkflow.edit, edit)
    await ship(handle)
    await deliver(handle)
    await skip_until_done(h, handle, timedelta(days=31))


async def edit_after_shipment(h: Harness, handle: Order) -> None:
    """An operator cancels the units not shipped: refunded first, then the order is shipped."""
    await wait_status(handle, "confirmed")
    await ship(handle, {"TSHIRT": 2})
    edit = EditCommand(lines=units({"MUG": 0}), reason="out of mugs", actor=OPERATOR)
    await handle.execute_update(OrderWorkflow.edit, edit)
    await deliver(handle)
    await skip_until_done(h, handle, timedelta(days=31))


async def return_received(h: Harness, handle: Order) -> None:
    await ship_and_deliver(handle)
    await open_return(handle, {"TSHIRT": 1})
    receive = ReceiveReturnCommand(return_id="R-1", actor=OPERATOR)
    await handle.execute_update(OrderWorkflow.receive_return, receive)
    await skip_until_done(h, handle, timedelta(days=31))


async def return_rejected(h: Harness, handle: Order) -> None:
    await ship_and_deliver(handle)
    await open_return(handle, {"TSHIRT": 1})
    reject = RejectReturnCommand(return_id="R-1", reason="worn", actor=OPERATOR)
    await handle.execute_update(OrderWorkflow.reject_return, reject)
    await skip_until_done(h, handle, timedelta(days=31))


async def return_expired(h: Harness, handle: Order) -> None:
    """A return opened 5 days after delivery: the window closes (day 30) while it is open,
    then it expires (day 35) and the order ends."""
    await ship_and_deliver(handle)
    await h.env.sleep(timedelta(days=5))
    await open_return(handle, {"TSHIRT": 1})
    await skip_until_done(h, handle, timedelta(days=31))


async def partial_fulfilment_timeout(h: Harness, handle: Order) -> None:
    """Part shipped, the rest never: the system cancels and refunds it after the fulfilment
    timeout, the shipment is taken as delivered after its own, then the window closes."""
    await wait_status(handle, "confirmed")
    await ship(handle, {"TSHIRT": 2})
    await skip_until_done(h, handle, timedelta(days=61))


def order_id(handle: Order) -> str:
    return handle.id.removeprefix("order-")


Scenario = Callable[[Harness, Order], Awaitable[None]]
SCENARIOS: dict[str, tuple[dict[str, int], dict[str, object], Scenario]] = {
    "happy": ({"TSHIRT": 2}, {}, happy),
    "declined": ({"MUG": 1}, {"decline": True}, declined),
    "three_d_secure": (
        {"TSHIRT": 1},
        {"intent_status": IntentStatus.ACTION_REQUIRED},
        three_d_secure,
    ),
    "review": ({"MACHINE": 1}, {}, review),
    "cancel": ({"TSHIRT": 3}, {}, cancel),
    "refund": ({"TSHIRT": 2}, {}, refund),
    "reject": ({"MACHINE": 1}, {}, reject),
    "review_timeout": ({"MACHINE": 1}, {}, review_timeout),
    "three_d_secure_expired": (
        {"TSHIRT": 1},
        {"intent_status": IntentStatus.ACTION_REQUIRED},
        three_d_secure_expired,
    ),
    "cancel_authorizing": (
        {"TSHIRT": 1},
        {"script": Script(transient={"authorize_payment": 1_000})},
        cancel_authorizing,
    ),
    "cancel_three_d_secure": (
        {"TSHIRT": 1},
        {"intent_status": IntentStatus.ACTION_REQUIRED},
        cancel_three_d_secure,
    ),
    "capture_failed": (
        {"TSHIRT": 1},
        {"script": Script(refuse=frozenset({"capture"}))},
        capture_failed,
    ),
    "refund_failed": (
        {"TSHIRT": 1},
        {"script": Script(refuse=frozenset({"refund"}))},
        refund_failed,
    ),
    "delivery_timeout": ({"TSHIRT": 1}, {}, delivery_timeout),
    "out_of_stock": ({"MACHINE": 3}, {}, out_of_stock),
    "refund_replay": ({"TSHIRT": 2}, {}, refund_replay),
    "notification_gives_up": ({"MUG": 1}, {"smtp_down": True}, notification_gives_up),
    "split_shipment": ({"TSHIRT": 2, "MUG": 1}, {}, split_shipment),
    "edit_before_shipment": ({"TSHIRT": 2, "MUG": 1}, {}, edit_before_shipment),
    "edit_after_shipment": ({"TSHIRT": 2, "MUG": 1}, {}, edit_after_shipment),
    "return_received": ({"TSHIRT": 2}, {}, return_received),
    "return_rejected": ({"TSHIRT": 2}, {}, return_rejected),
    "return_expired": ({"TSHIRT": 2}, {}, return_expired),
    "partial_fulfilment_timeout": ({"TSHIRT": 2, "MUG": 1}, {}, partial_fulfilment_timeout),
    "webhook_endpoints": (
        {"TSHIRT": 3},
        {"channels": ["email", "webhook"], "endpoints": ["wd_1", "wd_2"]},
        cancel,
    ),
}
"""Order scenarios: (lines, Fakes fields or a per-order `script`, what happens next).
`reconciliation` is recorded on its own (record_reconciliation)."""


ALONE = ("reconciliation", "idempotency_cleanup", "webhook_retention", "webhook_delivery")
"""Workflows recorded on their own, without an order."""


def recorded(name: str) -> bool:
    """Whether the scenario's history is in tests/histories already (an order scenario's
    order history, or a workflow's own)."""
    return (HISTORIES / (f"{name}.json" if name in ALONE else f"order-{name}.json")).exists()


async def record(name: str, env: WorkflowEnvironment) -> None:
    if name == "reconciliation":
        await record_reconciliation(env)
        return
    if name == "idempotency_cleanup":
        await record_idempotency_cleanup(env)
        return
    if name == "webhook_retention":
        await record_webhook_retention(env)
        return
    if name == "webhook_delivery":
        await record_webhook_delivery(env)
        return
    lines, setup, scenario = SCENARIOS[name]
    order_id = f"{name}-{uuid.uuid4().hex[:6]}"
    client = env.client
    setup = dict(setup)
    script = setup.pop("script", None)
    fakes = Fakes(**setup)  # type: ignore[arg-type]
    if isinstance(script, Script):
        fakes.scripts[order_id] = copy.deepcopy(script)
    async with running(env, fakes) as h:
        try:
            handle, _ = await h.place(lines, order_id=order_id)
        except WorkflowUpdateFailedError:  # out of stock: the order never started a payment
            handle = client.get_workflow_handle_for(
                OrderWorkflow.run,  # type: ignore[arg-type]
                f"order-{order_id}",
            )
        await scenario(h, handle)
        kinds: list[tuple[str, WorkflowHandle[Any, Any]]] = [("order", handle)]
        if name != "out_of_stock":
            payment = client.get_workflow_handle(f"payment-{order_id}")
            await asyncio.wait_for(payment.result(), timeout=30)
            kinds.append(("payment", payment))
            notification = client.get_workflow_handle(
                event_notification_id(order_id, "order_accepted", 1)
            )
            kinds.append(("notification", notification))
        for kind, wf in kinds:
            history = await wf.fetch_history()
            (HISTORIES / f"{kind}-{name}.json").write_text(history.to_json())


async def record_reconciliation(env: WorkflowEnvironment) -> None:
    @activity.defn(name="reconcile_payments")
    async def reconcile_payments(inp: ReconcileInput) -> ReconcileResult:
        return ReconcileResult(report_id="rep_1", checked=3, mismatches=1)

    await record_alone(env, "reconciliation", ReconciliationWorkflow, reconcile_payments)


async def record_idempotency_cleanup(env: WorkflowEnvironment) -> None:
    @activity.defn(name="delete_expired_idempotency_keys")
    async def delete_expired_idempotency_keys(inp: CleanupInput) -> CleanupResult:
        return CleanupResult(deleted=3)

    await record_alone(
        env, "idempotency_cleanup", IdempotencyCleanupWorkflow, delete_expired_idempotency_keys
    )


async def record_webhook_retention(env: WorkflowEnvironment) -> None:
    @activity.defn(name="delete_old_webhook_deliveries")
    async def delete_old_webhook_deliveries(inp: CleanupInput) -> CleanupResult:
        return CleanupResult(deleted=12)

    await record_alone(
        env, "webhook_retention", WebhookRetentionWorkflow, delete_old_webhook_deliveries
    )


async def record_webhook_delivery(env: WorkflowEnvironment) -> None:
    """A redelivery (series 2) whose first attempt the endpoint refuses."""
    refusals = [ApplicationError("HTTP 500", type="EndpointRefused")]

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(delivery: WebhookDelivery) -> WebhookResult:
        if refusals:
            raise refusals.pop()
        return WebhookResult(status="sent")

    @activity.defn(name="give_up_webhook")
    async def give_up_webhook(failure: WebhookFailure) -> None:
        raise AssertionError("the redelivery is sent at its second attempt")

    queue = f"webhook_delivery-{uuid.uuid4()}"
    delivery_id = new_delivery_id()
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[WebhookDeliveryWorkflow],
        activities=[deliver_webhook, give_up_webhook],
    ):
        handle = await env.client.start_workflow(
            WebhookDeliveryWorkflow.run,
            WebhookDelivery(delivery_id=delivery_id, series=2),
            id=webhook_delivery_workflow_id(delivery_id, 2),
            task_queue=queue,
        )
        await handle.result()
        history = await handle.fetch_history()
        (HISTORIES / "webhook_delivery.json").write_text(history.to_json())


async def record_alone(
    env: WorkflowEnvironment, name: str, workflow: type, stand_in: Callable[..., Any]
) -> None:
    """A workflow of its own (scheduled, no order) with one stand-in activity: its input
    model takes no fields."""
    queue = f"{name}-{uuid.uuid4()}"
    run = workflow.run  # type: ignore[attr-defined]
    async with Worker(env.client, task_queue=queue, workflows=[workflow], activities=[stand_in]):
        handle = await env.client.start_workflow(
            run,
            typing.get_type_hints(run)["inp"](),
            id=f"{name}-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
        await handle.result()
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())


async def main(names: list[str]) -> None:
    """No names: every scenario (re-records the committed files too); `--new`: only the
    scenarios without a history yet, so the committed ones stay as recorded and keep
    proving that older histories replay; or names."""
    everything = [*SCENARIOS, *ALONE]
    if names == ["--new"]:
        names = [name for name in everything if not recorded(name)]
        if not names:
            print("every scenario has a history already")
            return
    unknown = set(names) - set(everything)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {everything}")
    HISTORIES.mkdir(exist_ok=True)
    for name in names or everything:
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
