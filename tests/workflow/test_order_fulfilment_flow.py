"""Split shipments, per-shipment delivery, edits, returns and who acted, through the order
workflow on the time-skipping server (docs/orders.md, "Shipments, edits and returns"); the
activities are the in-memory doubles of tests/workflow/fakes.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.records import TimelineEntry
from tests.workflow.fakes import Fakes
from tests.workflow.harness import (
    CUSTOMER,
    OPERATOR,
    Harness,
    Order,
    deliver,
    delivered_order,
    open_return,
    running,
    settled,
    ship,
    skip_until_done,
    units,
    wait_record,
    wait_status,
)
from workflows.contracts import (
    ActorInput,
    EditCommand,
    ReceiveReturnCommand,
    RefundCommand,
    RejectReturnCommand,
    ShipCommand,
)
from workflows.order import OrderWorkflow

TOTAL = 2 * 2500 + 1200
"""Two TSHIRTs and a MUG (tests/workflow/fakes.py prices)."""


@pytest.fixture
async def harness(time_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    async with running(time_env, Fakes()) as harness:
        yield harness


async def confirmed(harness: Harness, **policy: object) -> tuple[Order, str]:
    """Two TSHIRTs and a MUG, confirmed; answers the handle and the order id."""
    handle, accepted = await harness.place({"TSHIRT": 2, "MUG": 1}, **policy)
    await wait_status(handle, "confirmed")
    return handle, accepted.order_id


async def refused(update: Awaitable[object]) -> str | None:
    """The type of the refusal an update answers with."""
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update
    return failed.value.cause.type  # type: ignore[union-attr]


def paid(fakes: Fakes, order_id: str, operation: str) -> list[int]:
    """The amounts of every capture or refund the payment double carried out."""
    return [amount for op, _, amount in fakes.intents[order_id].effects if op == operation]


def entries(fakes: Fakes, kind: str) -> list[TimelineEntry]:
    return [e for r in fakes.records for e in r.timeline if e.type == kind]


async def occurrences(fakes: Fakes, event: str, count: int) -> list[int]:
    """The occurrences of `event` the notifications delivered, once `count` have been."""
    for _ in range(200):
        seen = sorted(n.occurrence for n in fakes.sent if n.event == event)
        if len(seen) >= count:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{event} was delivered {seen}, not {count} times")


async def receive(handle: Order, return_id: str = "R-1") -> None:
    command = ReceiveReturnCommand(return_id=return_id, actor=OPERATOR)
    await handle.execute_update(OrderWorkflow.receive_return, command)


# --- shipments ---------------------------------------------------------------------------------


async def test_a_split_shipment_captures_once_and_commits_each_shipments_units(
    harness: Harness,
) -> None:
    fakes = harness.fakes
    handle, order_id = await confirmed(harness)

    first = await ship(handle, {"TSHIRT": 2})

    assert first.status == "partially_shipped"
    assert first.record is not None
    assert first.record.captured == TOTAL  # the first shipment captures the whole total
    assert [(line.sku, line.shipped) for line in first.record.lines] == [("TSHIRT", 2), ("MUG", 0)]
    assert [s.id for s in first.record.shipments] == ["S-1"]
    assert fakes.moves == {(order_id, "commit-S-1"): 2}  # its own units only
    assert fakes.reserved[order_id] == {"TSHIRT": 0, "MUG": 1}
    assert await refused(ship(handle, {"TSHIRT": 1})) == "too-many-units"

    second = await ship(handle, tracking_number="2")

    assert second.status == "shipped"
    assert second.record is not None and second.record.captured == TOTAL
    assert [(s.id, s.tracking_number) for s in second.record.shipments] == [
        ("S-1", "1"),
        ("S-2", "2"),
    ]
    assert [(u.sku, u.quantity) for u in second.record.shipments[1].lines] == [("MUG", 1)]
    assert paid(fakes, order_id, "capture") == [TOTAL]  # once
    assert [c[0] for c in fakes.gateway_calls].count("capture") == 1
    assert fakes.settlements == [
        (order_id, "commit:commit-S-1", 2),
        (order_id, "committed", 1),  # the rest still reserved
    ]
    assert fakes.stock == {"TSHIRT": 8, "MUG": 9, "MACHINE": 2}


async def test_each_shipment_is_delivered_automatically_its_own_timeout_after_it_shipped(
    harness: Harness,
) -> None:
    handle, _ = await confirmed(harness, delivery_timeout=timedelta(days=10))
    await ship(handle, {"TSHIRT": 2})
    await harness.env.sleep(timedelta(days=2))
    await ship(handle, tracking_number="2")

    await harness.env.sleep(timedelta(days=9))  # day 11: S-1's timeout passed, not S-2's

    record = await wait_record(
        handle, lambda r: r.shipments[0].delivered_at is not None, "S-1 delivered"
    )
    assert record.status == "shipped"
    assert record.shipments[1].delivered_at is None
    arrived = entries(harness.fakes, "shipment_delivered")
    assert [(e.data, e.actor.type) for e in arrived] == [({"shipment_id": "S-1"}, "system")]
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    await harness.env.sleep(timedelta(days=2))  # day 13: S-2's passed too

    record = await wait_record(handle, lambda r: r.status == "delivered", "delivered")
    assert all(s.delivered_at is not None for s in record.shipments)
    assert entries(harness.fakes, "order_delivered")[0].actor.type == "system"
    finished = await skip_until_done(harness, handle, timedelta(days=31))  # the return window
    assert finished.status == "delivered"


async def test_an_operator_delivers_one_shipment_and_the_order_once_every_one_arrived(
    harness: Harness,
) -> None:
    handle, _ = await confirmed(harness)
    await ship(handle, {"MUG": 1})

    one = await deliver(handle, "S-1")

    assert one.status == "partially_shipped"  # units are still to ship
    assert await refused(deliver(handle)) == "invalid-state"
    assert await refused(deliver(handle, "S-9")) == "unknown-shipment"
    await ship(handle)
    assert await refused(deliver(handle, "S-1")) == "invalid-state"  # delivered already
    done = await deliver(handle, "S-2")
    assert done.status == "delivered"


# --- edits -------------------------------------------------------------------------------------


async def test_an_edit_before_shipment_releases_the_units_at_once_and_lowers_the_capture(
    harness: Harness,
) -> None:
    fakes = harness.fakes
    handle, order_id = await confirmed(harness)

    edited = await handle.execute_update(
        OrderWorkflow.edit,
        EditCommand(lines=units({"TSHIRT": 1, "MUG": 0}), actor=CUSTOMER),
    )

    assert edited.status == "confirmed"
    assert edited.record is not None
    assert edited.record.total == 2500
    assert [(line.sku, line.quantity) for line in edited.record.lines] == [("TSHIRT", 1)]
    assert fakes.moves == {(order_id, "edit-1"): 2}  # released at once
    assert fakes.stock == {"TSHIRT": 9, "MUG": 10, "MACHINE": 2}
    assert fakes.gateway_calls == [("authorize", f"payment-{order_id}:authorize:1")]
    assert [e.data for e in entries(fakes, "order_updated")] == [
        {
            "lines": [{"sku": "TSHIRT", "quantity": 1}, {"sku": "MUG", "quantity": 0}],
            "total": 2500,
            "reason": "",
        }
    ]

    shipped = await ship(handle)

    assert shipped.status == "shipped"
    assert paid(fakes, order_id, "capture") == [2500]  # the new total, not the authorized one
    assert shipped.record is not None and shipped.record.authorized == TOTAL
    assert shipped.record.captured == 2500
    assert fakes.settlements[-1] == (order_id, "committed", 1)
    assert paid(fakes, order_id, "refund") == []


async def test_an_operator_edit_after_the_first_shipment_refunds_the_cancelled_units(
    harness: Harness,
) -> None:
    fakes = harness.fakes
    handle, order_id = await confirmed(harness)
    await ship(handle, {"TSHIRT": 2})
    by_customer = EditCommand(lines=units({"MUG": 0}), actor=CUSTOMER)
    assert await refused(handle.execute_update(OrderWorkflow.edit, by_customer)) == "invalid-state"
    shipped_units = EditCommand(lines=units({"TSHIRT": 1}), actor=OPERATOR)
    assert await refused(handle.execute_update(OrderWorkflow.edit, shipped_units)) == (
        "invalid-edit"
    )

    edited = await handle.execute_update(
        OrderWorkflow.edit,
        EditCommand(lines=units({"MUG": 0}), reason="out of mugs", actor=OPERATOR),
    )

    assert edited.status == "shipped"
    assert edited.record is not None
    assert (edited.record.total, edited.record.captured, edited.record.refunded) == (
        5000,
        TOTAL,
        1200,
    )
    assert edited.payment_status == "partially_refunded"
    assert paid(fakes, order_id, "refund") == [1200]
    assert fakes.moves[(order_id, "edit-1")] == 1
    assert fakes.stock["MUG"] == 10
    # one decision: the refund was asked of the provider before the units were cancelled
    assert {"refund_issued", "order_updated"} <= {e.type for e in fakes.records[-1].timeline}
    assert {e.actor.id for e in entries(fakes, "order_updated")} == {"op_1"}


async def test_units_not_shipped_in_time_are_cancelled_by_the_system_and_refunded(
    harness: Harness,
) -> None:
    fakes = harness.fakes
    handle, order_id = await confirmed(harness, delivery_timeout=timedelta(days=10))
    await ship(handle, {"TSHIRT": 1})
    await harness.env.sleep(timedelta(days=5))
    await ship(handle, {"TSHIRT": 1}, tracking_number="2")  # the timer counts from here

    await harness.env.sleep(timedelta(days=2))  # day 7: 6 days after S-1, not after S-2
    await settled(handle)
    assert (await handle.query(OrderWorkflow.state)).status == "partially_shipped"
    await harness.env.sleep(timedelta(days=5))  # day 12: S-1 arrived (day 10), then day 11

    record = await wait_record(handle, lambda r: r.status == "shipped", "the rest cancelled")
    assert [(line.sku, line.quantity) for line in record.lines] == [("TSHIRT", 2)]
    assert (record.total, record.refunded) == (5000, 1200)
    assert [s.delivered_at is not None for s in record.shipments] == [True, False]
    assert paid(fakes, order_id, "refund") == [1200]
    assert fakes.moves[(order_id, "edit-1")] == 1
    assert fakes.stock["MUG"] == 10
    (updated,) = entries(fakes, "order_updated")
    assert updated.actor.type == "system"
    assert updated.data["lines"] == [{"sku": "MUG", "quantity": 0}]
    assert [e.actor.type for e in entries(fakes, "refund_issued")] == ["system"]

    await harness.env.sleep(timedelta(days=4))  # day 16: S-2 arrived (day 15)

    await wait_status(handle, "delivered")
    finished = await skip_until_done(harness, handle, timedelta(days=31))
    assert finished.status == "delivered"


# --- returns -----------------------------------------------------------------------------------


async def test_a_received_return_refunds_its_lines_and_restocks_them(harness: Harness) -> None:
    fakes = harness.fakes
    handle, accepted = await delivered_order(harness, {"TSHIRT": 2, "MUG": 1})
    order_id = accepted.order_id

    opened = await open_return(handle, {"TSHIRT": 1})
    assert opened.record is not None
    assert [(r.id, r.status) for r in opened.record.returns] == [("R-1", "requested")]
    await receive(handle)

    record = (await handle.query(OrderWorkflow.state)).record
    assert record is not None
    (back,) = record.returns
    assert (back.status, back.refund) == ("received", 2500)
    assert [(line.sku, line.returned) for line in record.lines] == [("TSHIRT", 1), ("MUG", 0)]
    assert (record.status, record.refunded, record.payment_status) == (
        "delivered",
        2500,
        "partially_refunded",
    )
    assert paid(fakes, order_id, "refund") == [2500]
    assert fakes.moves[(order_id, "restock-R-1")] == 1
    assert fakes.stock["TSHIRT"] == 9
    assert sorted(e.type for e in fakes.records[-1].timeline) == [
        "refund_issued",
        "return_received",
        "stock_restocked",
    ]
    assert await refused(open_return(handle, {"TSHIRT": 2})) == "too-many-units"


async def test_a_rejected_return_refunds_nothing(harness: Harness) -> None:
    fakes = harness.fakes
    handle, accepted = await delivered_order(harness, {"TSHIRT": 2})
    await open_return(handle, {"TSHIRT": 2})

    rejected = await handle.execute_update(
        OrderWorkflow.reject_return,
        RejectReturnCommand(return_id="R-1", reason="worn", actor=OPERATOR),
    )

    assert rejected.record is not None
    (back,) = rejected.record.returns
    assert (back.status, back.refund, back.resolution) == ("rejected", 0, "worn")
    assert rejected.record.refunded == 0
    assert paid(fakes, accepted.order_id, "refund") == []
    assert not [key for key in fakes.moves if key[1].startswith("restock")]
    assert await refused(receive(handle)) == "invalid-state"  # it is rejected
    assert await refused(receive(handle, "R-7")) == "unknown-return"


async def return_opened(harness: Harness, receive_within: timedelta) -> tuple[Order, str]:
    """A delivered order of two TSHIRTs, one asked back at once (return R-1) and to be
    received within `receive_within`; answers the handle and the order id."""
    handle, accepted = await delivered_order(
        harness, {"TSHIRT": 2}, return_receive_timeout=receive_within
    )
    await open_return(handle, {"TSHIRT": 1})
    return handle, accepted.order_id


async def close_the_window(harness: Harness, handle: Order) -> None:
    await harness.env.sleep(timedelta(days=31))  # the return window (30 days) closed
    await settled(handle)


async def test_a_return_never_received_expires_and_the_order_ends_once_the_window_closed(
    harness: Harness,
) -> None:
    handle, order_id = await return_opened(harness, timedelta(days=10))

    await harness.env.sleep(timedelta(days=11))

    record = await wait_record(handle, lambda r: r.returns[0].status == "expired", "expired")
    assert record.returns[0].resolved_at is not None
    assert [e.actor.type for e in entries(harness.fakes, "return_expired")] == ["system"]
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # window open

    finished = await skip_until_done(harness, handle, timedelta(days=20))

    assert finished.status == "delivered"
    assert paid(harness.fakes, order_id, "refund") == []


async def test_the_return_window_closes_to_new_returns_and_the_order_ends_with_the_last_open_one(
    harness: Harness,
) -> None:
    handle, _ = await return_opened(harness, timedelta(days=60))

    await close_the_window(harness, handle)

    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # R-1 is open
    assert await refused(open_return(handle, {"TSHIRT": 1})) == "return-window-closed"
    await handle.execute_update(
        OrderWorkflow.reject_return,
        RejectReturnCommand(return_id="R-1", reason="never sent", actor=OPERATOR),
    )
    finished = await asyncio.wait_for(handle.result(), timeout=10)
    assert finished.status == "delivered"


async def test_operators_see_the_return_window_closed_while_a_return_is_still_open(
    harness: Harness,
) -> None:
    handle, _ = await return_opened(harness, timedelta(days=60))

    await close_the_window(harness, handle)

    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "return window closed; waiting for the open returns" in metadata.current_details


# --- notifications and actors -----------------------------------------------------------------


async def test_each_shipment_and_each_refund_is_its_own_notification(harness: Harness) -> None:
    fakes = harness.fakes
    handle, _ = await confirmed(harness)
    await ship(handle, {"TSHIRT": 2})
    await ship(handle, tracking_number="2")
    await deliver(handle)
    for n, sku in enumerate(["TSHIRT", "MUG"], start=1):
        await open_return(handle, {sku: 1})
        await receive(handle, f"R-{n}")

    assert await occurrences(fakes, "order_shipped", 2) == [1, 2]
    assert await occurrences(fakes, "refund_issued", 2) == [1, 2]
    assert await occurrences(fakes, "return_requested", 2) == [1, 2]
    assert await occurrences(fakes, "return_received", 2) == [1, 2]
    assert [e.data["amount"] for e in entries(fakes, "refund_issued")] == [2500, 1200]


async def test_every_timeline_entry_says_who_acted(harness: Harness) -> None:
    fakes = harness.fakes
    handle, _ = await confirmed(harness, delivery_timeout=timedelta(days=10))
    await ship(handle, {"TSHIRT": 2})
    rest = ShipCommand(
        carrier="UPS", tracking_number="2", actor=ActorInput(type="operator", id="op_2")
    )
    await handle.execute_update(OrderWorkflow.ship, rest)
    await harness.env.sleep(timedelta(days=11))  # both shipments delivered by the system
    await wait_status(handle, "delivered")
    await open_return(handle, {"MUG": 1})
    await handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=100))  # no actor

    who = [(e.type, e.actor.type, e.actor.id) for r in fakes.records for e in r.timeline]

    assert {
        ("order_accepted", "customer", "cus_1"),
        ("payment_authorized", "stripe", None),
        ("order_confirmed", "stripe", None),
        ("order_shipped", "operator", "op_1"),
        ("payment_captured", "operator", "op_1"),
        ("order_shipped", "operator", "op_2"),
        ("shipment_delivered", "system", None),
        ("order_delivered", "system", None),
        ("return_requested", "customer", "cus_1"),
        ("refund_issued", "operator", None),  # a request that names nobody: its role
    } <= set(who)
    assert {kind for _, kind, _ in who} == {"customer", "operator", "system", "stripe"}
