"""No provider answer, input or ended child leaves an order waiting on nothing: each takes
a decided path that ends the order or leaves it waiting with a timer running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.notification_starts import start_notifications
from activities.orders import UNSTORABLE, RecordOrderInput
from domain.errors import PaymentRefused
from domain.payments import IntentState, IntentStatus
from tests.workflow.fakes import Fakes
from tests.workflow.harness import Harness, running, skip_until_done, wait_status
from workflows.contracts import CancelCommand, Decision, RefundCommand, ShipCommand
from workflows.order import OrderWorkflow

UPDATE_TIMEOUT = 20  # seconds: an update that has not answered by then waits on nothing


@dataclass
class Provider(Fakes):
    """The doubles, with the provider able to refuse a void for good."""

    refuse_void: bool = False
    canceled_when_refused: bool = False
    """What a re-read of a refused intent says: voided already (an expired hold)."""
    refuse_record_status: str | None = None
    refuse_retrieve: bool = False
    """The provider will not show the intent any more (a final refusal, not an outage)."""
    refund_gate: asyncio.Event | None = None
    """While set, a refund waits for the event before the provider answers."""
    refunding: asyncio.Event = field(default_factory=asyncio.Event)

    async def refund(self, intent_id: str, *, amount: int, idempotency_key: str) -> str:
        self.refunding.set()
        if self.refund_gate is not None:
            await self.refund_gate.wait()
        return await super().refund(intent_id, amount=amount, idempotency_key=idempotency_key)

    async def void(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        self.gateway_calls.append(("void", idempotency_key))
        if self.refuse_void:
            raise PaymentRefused("This payment intent's status is voided")
        return IntentState(id=intent_id, status=IntentStatus.VOIDED, amount=0, currency="EUR")

    async def retrieve(self, intent_id: str) -> IntentState:
        if self.refuse_retrieve:
            raise PaymentRefused("No such payment_intent")
        status = IntentStatus.VOIDED if self.canceled_when_refused else self.intent_status
        return IntentState(id=intent_id, status=status, amount=0, currency="EUR")

    def activities(self) -> dict[str, list[object]]:
        acts = super().activities()

        @activity.defn(name="record_order")
        async def record_order(inp: RecordOrderInput) -> list[str] | None:
            if inp.record.status == self.refuse_record_status:
                raise ApplicationError(
                    "unsupported Unicode escape sequence", type=UNSTORABLE, non_retryable=True
                )
            self.records.append(inp)
            return await start_notifications(inp.notify, self.choose) if inp.notify else None

        acts["orders"] = [
            record_order
            if getattr(fn, "__temporal_activity_definition").name == "record_order"
            else fn
            for fn in acts["orders"]
        ]
        return acts


@pytest.fixture
async def provider() -> Provider:
    return Provider()


@pytest.fixture
async def harness(time_env: WorkflowEnvironment, provider: Provider) -> AsyncIterator[Harness]:
    async with running(time_env, provider) as harness:
        yield harness


async def _cancel(handle: object, reason: str = "changed my mind") -> object:
    return await handle.execute_update(  # type: ignore[attr-defined]
        OrderWorkflow.cancel,
        CancelCommand(reason=reason),
        rpc_timeout=timedelta(seconds=UPDATE_TIMEOUT),
    )


async def test_a_void_refused_for_good_is_recorded_and_the_order_still_ends(
    harness: Harness, provider: Provider
) -> None:
    provider.refuse_void = True
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")

    cancelled = await _cancel(handle)

    assert cancelled.status == "cancelled"  # type: ignore[attr-defined]
    assert cancelled.payment_status == "void_failed"  # type: ignore[attr-defined]
    assert "payment_void_failed" in provider.timeline
    assert provider.records[-1].record.payment_status == "void_failed"
    result = await skip_until_done(harness, handle, timedelta(minutes=1))
    assert result.status == "cancelled"
    assert provider.stock["TSHIRT"] == 10


async def test_an_intent_already_canceled_counts_as_voided(
    harness: Harness, provider: Provider
) -> None:
    provider.refuse_void = True
    provider.canceled_when_refused = True
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")

    cancelled = await _cancel(handle)

    assert cancelled.payment_status == "voided"  # type: ignore[attr-defined]
    assert "payment_voided" in provider.timeline
    assert "payment_void_failed" not in provider.timeline


async def test_a_terminated_payment_does_not_hang_the_order(
    harness: Harness, provider: Provider
) -> None:
    handle, accepted = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")
    payment = harness.env.client.get_workflow_handle(f"payment-{accepted.order_id}")
    await payment.terminate("someone pressed the button")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            OrderWorkflow.ship,
            ShipCommand(carrier="DHL", tracking_number="1"),
            rpc_timeout=timedelta(seconds=UPDATE_TIMEOUT),
        )
    assert refused.value.cause.type == "payment-capture-failed"  # type: ignore[union-attr]

    cancelled = await _cancel(handle)
    assert cancelled.status == "cancelled"  # type: ignore[attr-defined]
    assert cancelled.payment_status == "void_failed"  # type: ignore[attr-defined]
    result = await skip_until_done(harness, handle, timedelta(minutes=1))
    assert result.status == "cancelled"


async def test_cancelling_during_three_d_secure_voids_at_once_and_publishes_it(
    harness: Harness, provider: Provider
) -> None:
    provider.intent_status = IntentStatus.ACTION_REQUIRED
    handle, accepted = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "payment_action_required")

    cancelled = await _cancel(handle)
    assert cancelled.status == "cancelled"  # type: ignore[attr-defined]

    result = await skip_until_done(harness, handle, timedelta(minutes=1))  # not 30
    assert result.payment_status == "voided"
    assert provider.records[-1].record.payment_status == "voided"
    assert provider.records[-1].record.client_secret is None
    assert [c[0] for c in provider.gateway_calls].count("void") == 1
    payment = harness.env.client.get_workflow_handle(f"payment-{accepted.order_id}")
    assert (await payment.describe()).status.name == "COMPLETED"  # type: ignore[union-attr]


async def test_cancelling_while_authorizing_voids_the_authorization_once(
    harness: Harness, provider: Provider
) -> None:
    handle, _ = await harness.place({"TSHIRT": 1})
    cancelled = await _cancel(handle)  # the payment child is still authorizing or just did
    assert cancelled.status == "cancelled"  # type: ignore[attr-defined]

    result = await skip_until_done(harness, handle, timedelta(minutes=1))
    assert result.payment_status == "voided"
    assert [c[0] for c in provider.gateway_calls].count("void") == 1
    assert provider.stock["TSHIRT"] == 10


async def test_fulfilment_timeout_counts_from_the_authorization(harness: Harness) -> None:
    handle, _ = await harness.place({"MACHINE": 1})  # over the review threshold
    await wait_status(handle, "under_review")
    await harness.env.sleep(timedelta(hours=20))
    await handle.execute_update(OrderWorkflow.approve, Decision())

    # six days after the authorization, not after the approval (which came 20 h later)
    result = await skip_until_done(harness, handle, timedelta(days=5, hours=5))
    assert result.status == "cancelled"


async def test_an_address_the_database_cannot_store_rejects_before_reserving(
    harness: Harness, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.workflow import harness as module

    monkeypatch.setattr(module, "ADDRESS", module.ADDRESS.model_copy(update={"name": "A\x00"}))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await harness.place({"TSHIRT": 2})
    assert refused.value.cause.type == "invalid-text"  # type: ignore[union-attr]
    assert provider.stock["TSHIRT"] == 10
    assert provider.records == []


async def test_a_read_model_refusal_at_acceptance_rejects_and_releases_the_stock(
    harness: Harness, provider: Provider
) -> None:
    provider.refuse_record_status = "accepted"

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await harness.place({"TSHIRT": 2})

    assert refused.value.cause.type == "invalid-text"  # type: ignore[union-attr]
    assert provider.stock["TSHIRT"] == 10
    assert provider.reserved == {}


async def test_a_read_model_refusal_later_is_shown_and_the_order_goes_on(
    harness: Harness, provider: Provider
) -> None:
    provider.refuse_record_status = "cancelled"
    handle, _ = await harness.place({"TSHIRT": 2})
    await wait_status(handle, "confirmed")

    cancelled = await _cancel(handle)

    assert cancelled.status == "cancelled"  # type: ignore[attr-defined]
    assert provider.stock["TSHIRT"] == 10
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "not in the read model" in metadata.current_details


@pytest.mark.parametrize("field", ["reason"])
async def test_a_command_with_unstorable_text_is_refused_and_changes_nothing(
    harness: Harness, field: str
) -> None:
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await _cancel(handle, reason="oops\x00")
    assert refused.value.cause.type == "invalid-text"  # type: ignore[union-attr]
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            OrderWorkflow.ship, ShipCommand(carrier="D\x1bL", tracking_number="1")
        )
    assert (await handle.query(OrderWorkflow.state)).status == "confirmed"


async def test_a_command_repeated_with_its_key_answers_once_and_another_request_is_refused(
    harness: Harness, provider: Provider
) -> None:
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")
    ship = ShipCommand(carrier="DHL", tracking_number="1", idempotency_key="k1", request_hash="h1")

    first = await handle.execute_update(OrderWorkflow.ship, ship)
    again = await handle.execute_update(OrderWorkflow.ship, ship)

    assert first.status == again.status == "shipped"
    assert [c[0] for c in provider.gateway_calls].count("capture") == 1
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            OrderWorkflow.ship, ship.model_copy(update={"request_hash": "h2"})
        )
    assert refused.value.cause.type == "idempotency-key-reused"  # type: ignore[union-attr]


async def test_a_rejected_order_says_why_in_its_result(harness: Harness) -> None:
    with pytest.raises(WorkflowUpdateFailedError):
        await harness.place({"MACHINE": 3}, order_id="rejected1")

    handle = harness.env.client.get_workflow_handle_for(
        OrderWorkflow.run,  # type: ignore[arg-type]
        "order-rejected1",
    )
    result = await handle.result()
    assert result.status == "rejected"
    assert result.rejection is not None
    assert result.rejection.type == "out-of-stock"
    assert result.rejection.skus == ["MACHINE"]


async def test_stock_changes_run_once_their_decision_is_recorded(
    harness: Harness, provider: Provider
) -> None:
    """Releases and commits are regular activities, never local ones: a local activity
    commits before its workflow task is recorded, so a crash could leave a phantom."""
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "confirmed")
    await _cancel(handle)

    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert "release_stock" in scheduled


async def test_three_d_secure_expiring_with_the_void_refused_still_cancels(
    harness: Harness, provider: Provider
) -> None:
    provider.intent_status = IntentStatus.ACTION_REQUIRED
    provider.refuse_void = True
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "payment_action_required")

    result = await skip_until_done(harness, handle, timedelta(minutes=31))

    assert result.status == "cancelled"
    assert provider.stock["TSHIRT"] == 10


async def test_an_intent_the_provider_refuses_to_show_during_3ds_ends_the_payment(
    harness: Harness, provider: Provider
) -> None:
    provider.intent_status = IntentStatus.ACTION_REQUIRED
    provider.refuse_retrieve = True
    handle, _ = await harness.place({"TSHIRT": 1})
    await wait_status(handle, "payment_action_required")

    result = await skip_until_done(harness, handle, timedelta(minutes=1))  # the first poll

    assert result.status == "payment_failed"
    [failed] = [e for r in provider.records for e in r.timeline if e.type == "payment_failed"]
    assert "cannot be read" in str(failed.data["reason"])
    assert ("void", f"payment-{result.order_id}:void:1") in provider.gateway_calls
    assert provider.stock["TSHIRT"] == 10


async def test_a_refund_waiting_when_the_refund_window_closes_is_refused(
    harness: Harness, provider: Provider
) -> None:
    """A refund that passed its check before the window closed, but gets its turn after
    (another refund held the order), is refused: nothing is refunded after the window."""
    handle, _ = await harness.place({"TSHIRT": 2}, refund_window=timedelta(seconds=3))
    await wait_status(handle, "confirmed")
    await handle.execute_update(OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="1"))
    provider.refund_gate = asyncio.Event()
    await handle.execute_update(OrderWorkflow.deliver, Decision())
    first = asyncio.create_task(
        handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=500))
    )
    await asyncio.wait_for(provider.refunding.wait(), UPDATE_TIMEOUT)
    await asyncio.sleep(4)  # real time: the window's timer fires while the first one runs
    second = asyncio.create_task(
        handle.execute_update(OrderWorkflow.refund, RefundCommand(amount=500))
    )
    await asyncio.sleep(1)
    provider.refund_gate.set()

    assert (await asyncio.wait_for(first, UPDATE_TIMEOUT)).record.refunded == 500  # type: ignore[union-attr]
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await asyncio.wait_for(second, UPDATE_TIMEOUT)
    assert "refund window has closed" in str(refused.value.cause)
    result = await handle.result()
    assert result.status == "delivered"
    assert result.record is not None and result.record.refunded == 500
