"""NotificationWorkflow alone on the time-skipping server, its activities replaced by doubles:
the per-channel path every request recorded before the channel registry takes, the fan-out
over the channels the registry enables, and the webhook channel's deliveries to each merchant
endpoint."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.channels import ChannelQuery
from activities.notifications import DeliveryResult, FailureInput, NotificationRequest
from activities.webhooks import WebhookEvent, WebhookFailure, WebhookResult
from workflows.notification import (
    WEBHOOK_ENDPOINTS,
    NotificationWorkflow,
    event_notification_id,
    notification_id,
)
from workflows.webhook_contracts import WebhookDelivery


@dataclass
class Channels:
    """Doubles of the send activities (fail `failures` times, then deliver; `broken` ones
    always fail at once) and of the channel choice (answers `enabled`)."""

    failures: int = 0
    error: Callable[[], Exception] = lambda: ConnectionRefusedError("smtp down")
    broken: set[str] = field(default_factory=set)
    enabled: list[str] | Exception = field(default_factory=lambda: ["email"])
    pause: float = 0.0
    """Seconds (real time) each send takes, so overlapping sends show in `log`."""
    calls: list[tuple[str, str]] = field(default_factory=list)
    delivered: list[tuple[str, str]] = field(default_factory=list)
    failed: list[FailureInput] = field(default_factory=list)
    queries: list[ChannelQuery] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=lambda: ["wd_1"])
    """The deliveries planning a webhook event answers (one per endpoint taking it)."""
    refusing: set[str] = field(default_factory=set)
    """Deliveries whose endpoint refuses every attempt."""
    planned: list[WebhookEvent] = field(default_factory=list)
    given_up: list[WebhookFailure] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        def sender(name: str) -> Callable[..., Any]:
            @activity.defn(name=name)
            async def send(request: NotificationRequest) -> DeliveryResult:
                self.calls.append((name, request.event))
                if name in self.broken:
                    raise ApplicationError("refused", type="Refused", non_retryable=True)
                if self.failures != 0:
                    self.failures -= 1
                    raise self.error()
                self.log.append(f"start {name}")
                await asyncio.sleep(self.pause)
                self.log.append(f"end {name}")
                self.delivered.append((name, request.event))
                return DeliveryResult(status="sent")

            return send

        @activity.defn(name="enabled_channels")
        async def enabled_channels(query: ChannelQuery) -> list[str]:
            self.queries.append(query)
            if isinstance(self.enabled, Exception):
                raise self.enabled
            return self.enabled

        @activity.defn(name="mark_failed")
        async def mark_failed(inp: FailureInput) -> None:
            self.failed.append(inp)

        @activity.defn(name="plan_webhooks")
        async def plan_webhooks(event: WebhookEvent) -> list[str]:
            self.planned.append(event)
            return self.endpoints

        @activity.defn(name="deliver_webhook")
        async def deliver_webhook(delivery: WebhookDelivery) -> WebhookResult:
            name = f"deliver_webhook {delivery.delivery_id}"
            self.calls.append((name, str(delivery.series)))
            if delivery.delivery_id in self.refusing:
                raise ApplicationError("HTTP 500", type="EndpointRefused")
            self.log.append(f"start {name}")
            await asyncio.sleep(self.pause)
            self.log.append(f"end {name}")
            self.delivered.append(("deliver_webhook", delivery.delivery_id))
            return WebhookResult(status="sent")

        @activity.defn(name="give_up_webhook")
        async def give_up_webhook(failure: WebhookFailure) -> None:
            self.given_up.append(failure)

        senders = [sender("send_email"), sender("send_sms"), sender("send_webhook")]
        webhooks: list[Callable[..., Any]] = [plan_webhooks, deliver_webhook, give_up_webhook]
        return [*senders, enabled_channels, mark_failed, *webhooks]


@dataclass
class Harness:
    env: WorkflowEnvironment
    channels: Channels
    queue: str
    sends_in_task: bool = False
    """Every request sent as started since 2026-12-05: its sends are local activities."""

    async def deliver(self, event: str, channel: str = "email") -> DeliveryResult:
        order_id = uuid.uuid4().hex[:12]
        request = NotificationRequest(order_id=order_id, event=event, channel=channel)
        return await self.env.client.execute_workflow(
            NotificationWorkflow.run,
            request.model_copy(update={"sends_in_task": self.sends_in_task}),
            id=notification_id(order_id, event, channel),
            task_queue=self.queue,
        )

    async def notify(self, request: NotificationRequest) -> DeliveryResult:
        """A request as the order starts it since the registry: no channel named."""
        if self.sends_in_task:
            request = request.model_copy(update={"sends_in_task": True})
        return await self.env.client.execute_workflow(
            NotificationWorkflow.run,
            request,
            id=event_notification_id(request.order_id, request.event, request.occurrence),
            task_queue=self.queue,
        )


IN_TASK_OR_NOT = pytest.mark.parametrize(
    "harness", [False, True], ids=["activity", "in-task"], indirect=True
)
"""Run a test with sends as regular activities (requests started before 2026-12-05) and as
local activities (since)."""


@pytest.fixture
async def harness(
    time_env: WorkflowEnvironment, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    channels = Channels()
    queue = f"notifications-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[NotificationWorkflow],
        activities=channels.activities(),
    ):
        yield Harness(time_env, channels, queue, getattr(request, "param", False))


@IN_TASK_OR_NOT
async def test_each_channel_is_delivered_by_its_own_activity(harness: Harness) -> None:
    for channel in ("email", "sms", "webhook"):
        assert (await harness.deliver("order_shipped", channel)).status == "sent"

    assert harness.channels.delivered == [
        ("send_email", "order_shipped"),
        ("send_sms", "order_shipped"),
        ("deliver_webhook", "wd_1"),
    ]


@IN_TASK_OR_NOT
async def test_a_delivery_that_fails_for_a_while_is_retried_until_it_is_sent(
    harness: Harness,
) -> None:
    harness.channels.failures = 6  # 2 + 4 + 8 + 16 + 32 + 64 s of backoff

    result = await harness.deliver("order_confirmed")

    assert result.status == "sent"
    assert len(harness.channels.calls) == 7
    assert harness.channels.failed == []


@IN_TASK_OR_NOT
async def test_a_day_of_failures_is_recorded_failed_with_the_last_error(harness: Harness) -> None:
    harness.channels.failures = -1  # forever

    result = await harness.deliver("order_delivered")

    assert result.status == "failed"
    [failure] = harness.channels.failed
    assert failure.request.event == "order_delivered"
    assert "delivery window" in failure.error
    if harness.sends_in_task:  # the attempts' errors are in the delivery's row
        assert failure.after_attempts
    else:
        assert "ConnectionRefusedError: smtp down" in failure.error
    # exponential backoff capped at 15 minutes: about a hundred attempts in 24 h, not thousands
    assert 90 < len(harness.channels.calls) < 110


@IN_TASK_OR_NOT
async def test_a_permanent_error_fails_at_once_without_retrying(harness: Harness) -> None:
    harness.channels.failures = -1
    harness.channels.error = lambda: ApplicationError(
        "customer cus_1 has no phone", type="NoPhoneNumber", non_retryable=True
    )

    result = await harness.deliver("order_shipped", "sms")

    assert result.status == "failed"
    assert len(harness.channels.calls) == 1
    assert harness.channels.failed[0].error == "NoPhoneNumber: customer cus_1 has no phone"


@IN_TASK_OR_NOT
async def test_an_unknown_channel_is_recorded_failed(harness: Harness) -> None:
    result = await harness.deliver("order_shipped", "pigeon")

    assert result.status == "failed"
    assert harness.channels.calls == []
    assert harness.channels.failed[0].error == "unknown channel 'pigeon'"


@IN_TASK_OR_NOT
async def test_the_delivery_window_comes_from_the_request(harness: Harness) -> None:
    harness.channels.failures = -1
    order_id = uuid.uuid4().hex[:12]
    request = NotificationRequest(order_id=order_id, event="order_accepted", channel="email")
    request.policy.window = timedelta(hours=1)

    result = await harness.env.client.execute_workflow(
        NotificationWorkflow.run,
        request.model_copy(update={"sends_in_task": harness.sends_in_task}),
        id=notification_id(order_id, "order_accepted", "email"),
        task_queue=harness.queue,
    )

    assert result.status == "failed"
    assert len(harness.channels.calls) < 15


def customer_request(**fields: Any) -> NotificationRequest:
    order_id = uuid.uuid4().hex[:12]
    return NotificationRequest(
        order_id=order_id, event="order_shipped", customer_id=f"cus_{order_id}", **fields
    )


@IN_TASK_OR_NOT
async def test_without_a_channel_every_enabled_channel_is_delivered_at_once(
    harness: Harness,
) -> None:
    harness.channels.enabled = ["email", "sms", "webhook"]
    harness.channels.pause = 0.3
    request = customer_request(occurrence=2)

    result = await harness.notify(request)

    assert harness.channels.queries == [
        ChannelQuery(
            order_id=request.order_id, customer_id=request.customer_id, event="order_shipped"
        )
    ]
    assert sorted(harness.channels.delivered) == [
        ("deliver_webhook", "wd_1"),
        ("send_email", "order_shipped"),
        ("send_sms", "order_shipped"),
    ]
    # in a task, the webhook's deliveries are scheduled when the task ends, after the sends
    at_once = 2 if harness.sends_in_task else 3
    assert all(entry.startswith("start") for entry in harness.channels.log[:at_once]), "at once"
    assert result.status == "sent" and set(result.channels) == {"email", "sms", "webhook"}
    assert all(r.status == "sent" for r in result.channels.values())


@IN_TASK_OR_NOT
async def test_an_operators_notification_is_one_email_without_choosing_channels(
    harness: Harness,
) -> None:
    harness.channels.enabled = ["email", "sms", "webhook"]
    request = NotificationRequest(
        order_id=uuid.uuid4().hex[:12],
        event="review_required",
        audience="operator",
        recipient="ops@example.com",
    )

    result = await harness.notify(request)

    assert harness.channels.queries == []
    assert harness.channels.delivered == [("send_email", "review_required")]
    assert result.status == "sent" and list(result.channels) == ["email"]


@IN_TASK_OR_NOT
async def test_a_channel_that_gives_up_is_recorded_failed_and_the_others_are_sent(
    harness: Harness,
) -> None:
    harness.channels.enabled = ["email", "sms"]
    harness.channels.broken = {"send_sms"}

    result = await harness.notify(customer_request(occurrence=3))

    assert result.status == "partial"
    assert result.channels["email"].status == "sent"
    assert result.channels["sms"].status == "failed"
    [failure] = harness.channels.failed
    assert (failure.request.channel, failure.request.occurrence) == ("sms", 3)
    assert failure.error == "Refused: refused"


async def test_channels_that_cannot_be_chosen_leave_email_which_every_customer_has(
    harness: Harness,
) -> None:
    harness.channels.enabled = ApplicationError(
        "customer cus_x not found", type="OrderNotFound", non_retryable=True
    )

    result = await harness.notify(customer_request())

    assert result.status == "sent" and list(result.channels) == ["email"]
    assert harness.channels.delivered == [("send_email", "order_shipped")]


async def test_channels_unchosen_for_the_whole_window_leave_email(harness: Harness) -> None:
    harness.channels.enabled = ConnectionRefusedError("database down")
    request = customer_request()
    request.policy.window = timedelta(hours=1)

    result = await harness.notify(request)

    assert len(harness.channels.queries) > 5, "retried inside the window"
    assert result.status == "sent" and list(result.channels) == ["email"]


async def notification_history(harness: Harness, request: NotificationRequest) -> WorkflowHistory:
    handle = harness.env.client.get_workflow_handle(
        event_notification_id(request.order_id, request.event, request.occurrence)
    )
    return await handle.fetch_history()


async def asked_for_endpoints(harness: Harness, request: NotificationRequest) -> bool:
    """Whether the notification's history holds the `webhook-endpoints` patch marker."""
    history = await notification_history(harness, request)
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    return WEBHOOK_ENDPOINTS.encode() in b"".join(m.SerializeToString() for m in markers)


async def test_the_webhook_channel_delivers_to_every_planned_endpoint_at_once(
    harness: Harness,
) -> None:
    harness.channels.enabled = ["email", "webhook"]
    harness.channels.endpoints = ["wd_a", "wd_b", "wd_c"]
    harness.channels.pause = 0.3
    request = customer_request(occurrence=2)

    result = await harness.notify(request)

    assert harness.channels.planned == [
        WebhookEvent(order_id=request.order_id, event="order_shipped", occurrence=2)
    ]
    assert sorted(d for _, d in harness.channels.delivered if d.startswith("wd_")) == [
        "wd_a",
        "wd_b",
        "wd_c",
    ]
    webhook_starts = [e for e in harness.channels.log[:4] if "deliver_webhook" in e]
    assert len(webhook_starts) == 3 and all(e.startswith("start") for e in webhook_starts)
    assert {series for name, series in harness.channels.calls if "webhook" in name} == {"1"}
    assert result.status == "sent" and result.channels["webhook"].status == "sent"
    assert harness.channels.failed == [], "the delivery log, not notifications, records them"
    assert await asked_for_endpoints(harness, request)


async def test_an_endpoint_refusing_for_the_window_fails_its_delivery_alone(
    harness: Harness,
) -> None:
    harness.channels.enabled = ["email", "webhook"]
    harness.channels.endpoints = ["wd_ok", "wd_down"]
    harness.channels.refusing = {"wd_down"}
    request = customer_request()
    request.policy.window = timedelta(hours=1)

    result = await harness.notify(request)

    assert result.status == "partial"
    assert result.channels["email"].status == "sent"
    assert result.channels["webhook"].status == "partial"
    [failure] = harness.channels.given_up
    assert failure.delivery.delivery_id == "wd_down" and failure.delivery.series == 1
    assert "gave up after the delivery window" in failure.error
    assert "EndpointRefused: HTTP 500" in failure.error
    assert harness.channels.failed == []
    attempts = [c for c in harness.channels.calls if c[0] == "deliver_webhook wd_down"]
    assert 5 < len(attempts) < 20, "backoff doubling from 2 s, capped at 15 min"


async def test_an_event_no_endpoint_takes_costs_its_notification_nothing(
    harness: Harness,
) -> None:
    """Without the webhook channel the patch is never asked: the history has no marker and
    no step more than before endpoints."""
    harness.channels.enabled = ["email"]
    request = customer_request()

    await harness.notify(request)

    history = await notification_history(harness, request)
    assert not await asked_for_endpoints(harness, request)
    assert harness.channels.planned == []
    scheduled = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert [e.activity_task_scheduled_event_attributes.activity_type.name for e in scheduled] == [
        "send_email"
    ]


async def test_channels_chosen_at_the_start_are_delivered_without_a_step_or_a_patch(
    harness: Harness,
) -> None:
    """The record step chose them (activities/notification_starts.py): the history holds no
    channel choice and no patch marker, the webhook channel's included; its one local
    activity plans the webhook deliveries."""
    harness.channels.endpoints = ["wd_a"]
    request = customer_request(channels=["email", "webhook"])

    result = await harness.notify(request)

    assert harness.channels.queries == [], "the registry is not asked again"
    assert result.status == "sent" and list(result.channels) == ["email", "webhook"]
    assert ("deliver_webhook", "wd_a") in harness.channels.delivered
    history = await notification_history(harness, request)
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert markers == ["core_local_activity"]  # planning the webhook deliveries
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES not in kinds


async def test_sends_in_task_make_a_notification_six_events(harness: Harness) -> None:
    """Started since 2026-12-05 (activities/notification_starts.py): the send is a local
    activity in the first workflow task, so the history is started, one workflow task, its
    marker and completed; no activity is scheduled and no patch asked."""
    request = customer_request(channels=["email"], sends_in_task=True)

    result = await harness.notify(request)

    assert result.status == "sent"
    assert harness.channels.delivered == [("send_email", "order_shipped")]
    history = await notification_history(harness, request)
    assert [e.event_type for e in history.events] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    ]


async def test_sends_in_task_on_several_channels_run_at_once(harness: Harness) -> None:
    harness.channels.pause = 0.3
    request = customer_request(channels=["email", "sms"], sends_in_task=True)

    result = await harness.notify(request)

    assert result.status == "sent" and list(result.channels) == ["email", "sms"]
    assert harness.channels.log[:2] == ["start send_email", "start send_sms"]
    history = await notification_history(harness, request)
    kinds = [e.event_type for e in history.events]
    assert kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED) == 2
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
