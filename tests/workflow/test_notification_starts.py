"""The record step's notification starts (activities/notification_starts.py): once per id,
whether the retried step finds the notification running or finished, each on the channels
the start chose for it."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.channels import ChannelQuery
from activities.notification_ports import UnknownOrder
from activities.notification_starts import (
    NOTIFICATION_WORKFLOW,
    NotificationStart,
    start_notifications,
    with_channels,
)
from activities.notifications import NotificationRequest
from workflows.notification import NotificationWorkflow


@workflow.defn(name=NOTIFICATION_WORKFLOW, sandboxed=False)
class HeldNotification:
    """Stands in for the notification: runs until signalled, so a start can find it running."""

    def __init__(self) -> None:
        self._go = False

    @workflow.run
    async def run(self, request: NotificationRequest) -> str:
        await workflow.wait_condition(lambda: self._go)
        return f"{request.event} by {','.join(request.channels or [])}"

    @workflow.signal
    def go(self) -> None:
        self._go = True


def _start(order_id: str, event: str, queue: str) -> NotificationStart:
    return NotificationStart(
        workflow_id=f"notification-{order_id}-{event}-1",
        request=NotificationRequest(order_id=order_id, event=event),
        task_queue=queue,
        summary=f"{event} by every channel",
    )


async def _email_and_sms(query: ChannelQuery) -> list[str]:
    return ["email", "sms"]


def test_the_started_type_is_the_notification_workflow() -> None:
    assert workflow._Definition.must_from_class(NotificationWorkflow).name == NOTIFICATION_WORKFLOW


async def test_a_retried_step_starts_each_notification_once(time_env: WorkflowEnvironment) -> None:
    client, queue, order_id = time_env.client, f"n-{uuid.uuid4()}", uuid.uuid4().hex[:8]
    starts = [_start(order_id, "order_accepted", queue), _start(order_id, "order_shipped", queue)]
    step = ActivityEnvironment(client=client)

    async with Worker(client, task_queue=queue, workflows=[HeldNotification]):
        ids = await step.run(start_notifications, starts, _email_and_sms)
        assert ids == [s.workflow_id for s in starts]
        first = {i: (await client.get_workflow_handle(i).describe()).run_id for i in ids}

        assert (
            await step.run(start_notifications, starts, _email_and_sms) == ids
        )  # both running: left alone
        accepted = client.get_workflow_handle(ids[0])
        await accepted.signal(HeldNotification.go)
        assert await accepted.result() == "order_accepted by email,sms"
        assert (
            await step.run(start_notifications, starts, _email_and_sms) == ids
        )  # one finished: not again

        for workflow_id, run_id in first.items():
            described = await client.get_workflow_handle(workflow_id).describe()
            assert described.run_id == run_id, workflow_id
        shipped = client.get_workflow_handle(ids[1])
        assert (await shipped.describe()).status == WorkflowExecutionStatus.RUNNING
        await shipped.signal(HeldNotification.go)
        await asyncio.wait_for(shipped.result(), timeout=10)


async def test_the_start_chooses_a_customer_s_channels_and_an_operator_s_email() -> None:
    asked: list[ChannelQuery] = []

    async def choose(query: ChannelQuery) -> list[str]:
        asked.append(query)
        return ["email", "webhook"]

    step = ActivityEnvironment()
    customer = NotificationRequest(order_id="o1", event="order_shipped", customer_id="c1")
    chosen = await step.run(with_channels, customer, choose)
    assert chosen.channels == ["email", "webhook"]
    assert asked == [ChannelQuery(order_id="o1", customer_id="c1", event="order_shipped")]

    operator = NotificationRequest(
        order_id="o1", event="review_required", audience="operator", recipient="ops@example.com"
    )
    assert (await step.run(with_channels, operator, choose)).channels == ["email"]
    named = NotificationRequest(order_id="o1", event="order_shipped", channel="sms")
    assert await step.run(with_channels, named, choose) == named
    assert len(asked) == 1  # neither asked the registry


async def test_a_customer_the_registry_cannot_find_gets_email() -> None:
    async def unknown(query: ChannelQuery) -> list[str]:
        raise UnknownOrder(query.order_id)

    request = NotificationRequest(order_id="gone", event="order_confirmed")
    chosen = await ActivityEnvironment().run(with_channels, request, unknown)
    assert chosen.channels == ["email"]


async def test_a_choice_that_fails_leaves_it_to_the_notification() -> None:
    """The database refusing the choice never holds up the record step: the request goes
    without channels, and the notification asks the registry itself in its window."""

    async def refusing(query: ChannelQuery) -> list[str]:
        raise ConnectionRefusedError("database down")

    request = NotificationRequest(order_id="o2", event="order_shipped", customer_id="c2")
    chosen = await ActivityEnvironment().run(with_channels, request, refusing)
    assert chosen == request and chosen.channels is None
