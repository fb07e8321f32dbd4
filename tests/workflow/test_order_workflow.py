"""OrderWorkflow with its children, activities replaced by in-memory doubles."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.payments import IntentStatus
from tests.workflow.fakes import Fakes
from tests.workflow.harness import Harness, running, ship_and_deliver, skip_until_done, wait_status
from workflows.contracts import CancelCommand, Decision, OrderState, RefundCommand, ShipCommand
from workflows.notification import event_notification_id
from workflows.order import OrderWorkflow
from workflows.order_steps import ORDER_CODE


@pytest.fixture
async def harness(time_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    async with running(time_env, Fakes()) as harness:
        yield harness


async def test_happy_path_confirms_and_notifies(harness: Harness) -> None:
    handle, accepted = await harness.place({"TSHIRT": 2})
    assert accepted.status == "accepted"

    await wait_status(handle, "confirmed")

    fakes = harness.fakes
    assert fakes.statuses[:2] == ["accepted", "confirmed"]
    assert fakes.timeline[:3] == ["order_accepted", "payment_authorized", "order_confirmed"]
    assert fakes.records[-1].record.authorized == 5000
    assert fakes.gateway_calls == [("authorize", f"payment-{accepted.order_id}:authorize:1")]
    await harness.env.sleep(timedelta(seconds=5))
    assert sorted(r.event for r in fakes.sent) == ["order_accepted", "order_confirmed"]


async def test_out_of_stock_creates_no_order_and_reserves_nothing(harness: Harness) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await harness.place({"TSHIRT": 2, "MACHINE": 3})

    assert refused.value.cause.type == "out-of-stock"  # type: ignore[union-attr]
    assert harness.fakes.records == []
    assert harness.fakes.stock == {"TSHIRT": 10, "MUG": 10, "MACHINE": 2}


async def test_declined_card_fails_payment_and_releases_stock(harness: Harness) -> None:
    harness.fakes.decline = True
    handle, accepted = await harness.place({"MUG": 3})

    result = await handle.result()

    assert result.status == "payment_failed"
    assert harness.fakes.released == [accepted.order_id]
    assert harness.fakes.stock["MUG"] == 10
    assert "payment_failed" in harness.fakes.timeline
    assert ("capture",) not in [c[:1] for c in harness.fakes.gateway_calls]


async def test_shipment_captures_commits_stock_and_delivery_completes(harness: Harness) -> None:
    handle, accepted = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")

    shipped = await handle.execute_update(
        OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="JD1")
    )
    assert shipped.status == "shipped"
    assert ("capture", f"payment-{accepted.order_id}:capture:1") in harness.fakes.gateway_calls
    assert harness.fakes.committed == [accepted.order_id]
    assert harness.fakes.records[-1].record.captured == 2500

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="too late"))
    assert refused.value.cause.type == "not-cancellable"  # type: ignore[union-attr]

    done = await handle.execute_update(OrderWorkflow.deliver, Decision())
    assert done.status == "delivered"
    finished = await skip_until_done(harness, handle, timedelta(days=31))  # the refund window
    assert finished.status == "delivered"


@pytest.mark.parametrize("path", ["delivered", "cancelled"])
async def test_an_order_ends_after_its_payment_so_its_last_workflow_task_never_fails(
    harness: Harness, path: str
) -> None:
    """Ending while the payment child's end was on its way failed the order's last workflow
    task (UNHANDLED_COMMAND) about every second time; the order now waits for that end."""
    handle, _ = await harness.place({"TSHIRT": 1})
    if path == "delivered":
        await ship_and_deliver(handle)
        span = timedelta(days=31)  # the refund window
    else:
        await wait_status(handle, "confirmed")
        span = timedelta(days=7)  # the fulfilment deadline cancels
    finished = await skip_until_done(harness, handle, span)

    assert finished.status == path
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    child_ended = kinds.index(EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED)
    assert child_ended < kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)


async def test_the_record_step_starts_a_decisions_notifications_before_the_update_answers(
    harness: Harness,
) -> None:
    handle, accepted = await harness.place({"TSHIRT": 1})
    assert accepted.record == harness.fakes.records[0].record
    await wait_status(handle, "confirmed")
    shipped = await handle.execute_update(
        OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="JD1")
    )
    assert shipped.record == harness.fakes.records[-1].record
    assert shipped.record is not None and shipped.record.status == "shipped"

    client = harness.env.client
    shipping = client.get_workflow_handle(
        event_notification_id(accepted.order_id, "order_shipped", 1)
    )
    assert (await shipping.describe()).workflow_type == "NotificationWorkflow"  # no wait needed
    placing = client.get_workflow_handle(
        event_notification_id(accepted.order_id, "order_accepted", 1)
    )
    for _ in range(100):  # placing's: started by an activity that `accepted` does not wait for
        with contextlib.suppress(RPCError):
            assert (await placing.describe()).workflow_type == "NotificationWorkflow"
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the order_accepted notification was never started")
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert children == ["PaymentWorkflow"]  # the notifications are not the order's children


async def test_a_happy_order_asks_one_patch_and_its_notifications_none(harness: Harness) -> None:
    """An order started on this code asks `ORDER_CODE` alone (one marker and one upsert for
    every change before it), and its notifications, whose channels the record step chose,
    ask none and send in their first workflow task (docs/performance.md)."""
    handle, accepted = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")
    await ship_and_deliver(handle)
    patches = [
        e.marker_recorded_event_attributes
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert len(patches) == 1 and ORDER_CODE.encode() in patches[0].SerializeToString()

    client = harness.env.client
    for event in ("order_accepted", "order_confirmed", "order_shipped", "order_delivered"):
        notification = client.get_workflow_handle(
            event_notification_id(accepted.order_id, event, 1)
        )
        await notification.result()
        events = [e async for e in notification.fetch_history_events()]
        markers = [
            e.marker_recorded_event_attributes.marker_name
            for e in events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        ]
        assert markers == ["core_local_activity"], event  # the send, in the workflow task
        assert len(events) == 6, event  # started, a workflow task, the send, completed


async def test_confirmed_order_is_cancelled_when_fulfillment_times_out(harness: Harness) -> None:
    handle, accepted = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")

    result = await skip_until_done(harness, handle, timedelta(days=7))

    assert result.status == "cancelled"
    assert harness.fakes.released == [accepted.order_id]
    assert ("void", f"payment-{accepted.order_id}:void:1") in harness.fakes.gateway_calls
    assert harness.fakes.timeline[-3:] == ["order_cancelled", "stock_released", "payment_voided"]


async def test_shipped_order_is_delivered_automatically_after_thirty_days(harness: Harness) -> None:
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")
    await handle.execute_update(
        OrderWorkflow.ship, ShipCommand(carrier="UPS", tracking_number="1Z")
    )

    await harness.env.sleep(timedelta(days=31))
    assert (await handle.query(OrderWorkflow.state)).status == "delivered"
    result = await skip_until_done(harness, handle, timedelta(days=31))

    assert result.status == "delivered"
    assert harness.fakes.statuses[-1] == "delivered"


async def test_large_order_waits_for_review_and_times_out_into_cancellation(
    harness: Harness,
) -> None:
    handle, accepted = await harness.place({"MACHINE": 1})
    await wait_status(handle, "under_review")

    result = await skip_until_done(harness, handle, timedelta(hours=25))

    assert result.status == "cancelled"
    assert harness.fakes.stock["MACHINE"] == 2
    assert ("void", f"payment-{accepted.order_id}:void:1") in harness.fakes.gateway_calls
    await harness.env.sleep(timedelta(seconds=5))
    assert "review_required" in [r.event for r in harness.fakes.sent]


async def test_operator_approval_confirms_an_order_under_review(harness: Harness) -> None:
    handle, _ = await harness.place({"MACHINE": 1})
    await wait_status(handle, "under_review")

    approved = await handle.execute_update(OrderWorkflow.approve, Decision())

    assert approved.status == "confirmed"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.approve, Decision())
    assert refused.value.cause.type == "invalid-state"  # type: ignore[union-attr]


async def test_three_d_secure_that_never_completes_cancels_the_order(harness: Harness) -> None:
    harness.fakes.intent_status = IntentStatus.ACTION_REQUIRED
    handle, accepted = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "payment_action_required")
    assert harness.fakes.records[-1].record.client_secret == "pi_fake_secret"

    result = await skip_until_done(harness, handle, timedelta(minutes=31))

    assert result.status == "cancelled"
    assert harness.fakes.released == [accepted.order_id]
    assert ("void", f"payment-{accepted.order_id}:void:1") in harness.fakes.gateway_calls
    assert harness.fakes.records[-1].record.client_secret is None


async def test_cancellation_retries_a_failing_compensation_until_it_succeeds(
    harness: Harness,
) -> None:
    handle, accepted = await harness.place({"TSHIRT": 4})
    await wait_status(handle, "confirmed")
    harness.fakes.fail_release_times = 2

    cancelled = await handle.execute_update(
        OrderWorkflow.cancel, CancelCommand(reason="changed my mind")
    )

    assert cancelled.status == "cancelled"
    assert harness.fakes.released == [accepted.order_id]
    assert harness.fakes.stock["TSHIRT"] == 10
    assert harness.fakes.timeline[-3:] == ["order_cancelled", "stock_released", "payment_voided"]


async def test_notification_failing_for_a_day_is_recorded_failed_and_spares_the_order(
    harness: Harness,
) -> None:
    harness.fakes.smtp_down = True
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")

    await harness.env.sleep(timedelta(hours=25))

    assert {f.request.event for f in harness.fakes.failures} == {
        "order_accepted",
        "order_confirmed",
    }
    # the sends ran in their workflow tasks: the row holds the attempts' "smtp down"
    assert all(f.after_attempts for f in harness.fakes.failures)
    assert harness.fakes.failures[0].error == "gave up after the delivery window"
    assert (await handle.query(OrderWorkflow.state)).status == "confirmed"


async def shipped_order(
    harness: Harness, lines: dict[str, int]
) -> tuple[WorkflowHandle[OrderWorkflow, OrderState], OrderState]:
    handle, accepted = await harness.place(lines)
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="1"))
    return handle, accepted


async def test_partial_refunds_keep_the_status_and_the_rest_ends_refunded(harness: Harness) -> None:
    handle, accepted = await shipped_order(harness, {"TSHIRT": 2})

    partial = await handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=1000))
    assert partial.status == "shipped"
    assert harness.fakes.records[-1].record.refunded == 1000
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=4001))
    assert refused.value.cause.type == "refund-too-large"  # type: ignore[union-attr]

    rest = await handle.execute_update(OrderWorkflow.refund, RefundCommand(reason="damaged"))

    assert rest.status == "refunded"
    assert harness.fakes.records[-1].record.refunded == 5000
    assert [c for c in harness.fakes.gateway_calls if c[0] == "refund"] == [
        ("refund", f"payment-{accepted.order_id}:refund:1"),
        ("refund", f"payment-{accepted.order_id}:refund:2"),
    ]
    assert (await handle.result()).status == "refunded"


async def test_refund_before_capture_is_refused(harness: Harness) -> None:
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=100))

    assert refused.value.cause.type == "invalid-state"  # type: ignore[union-attr]


async def test_a_refund_repeated_with_its_idempotency_key_refunds_once(harness: Harness) -> None:
    handle, _ = await shipped_order(harness, {"TSHIRT": 2})
    command = RefundCommand(amount=500, idempotency_key="k1", request_hash="h1")

    await handle.execute_update(OrderWorkflow.refund, command)
    await handle.execute_update(OrderWorkflow.refund, command)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            OrderWorkflow.refund, command.model_copy(update={"request_hash": "other"})
        )

    assert refused.value.cause.type == "idempotency-key-reused"  # type: ignore[union-attr]
    assert len([c for c in harness.fakes.gateway_calls if c[0] == "refund"]) == 1
    assert harness.fakes.records[-1].record.refunded == 500


async def test_fifty_lines_and_twenty_partial_refunds_keep_the_history_small(
    harness: Harness,
) -> None:
    lines = {f"SKU-{i:02d}": 1 for i in range(50)}
    harness.fakes.stock.update(dict.fromkeys(lines, 5))
    handle, _ = await shipped_order(harness, lines)

    for _ in range(20):
        await handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=100))

    history = await handle.fetch_history()
    assert harness.fakes.records[-1].record.refunded == 2000
    # Temporal warns at 10,240 events and 10 MB of history; this order stays far below.
    assert len(history.events) < 1_000
    assert sum(event.ByteSize() for event in history.events) < 1_000_000
