"""NotificationWorkflow alone on the time-skipping server, its activities replaced by doubles:
the per-channel path every request recorded before the channel registry takes, and the
fan-out over the channels the registry enables."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.channels import ChannelQuery
from activities.notifications import DeliveryResult, FailureInput, NotificationRequest
from workflows.notification import NotificationWorkflow, event_notification_id, notification_id


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

        senders = [sender("send_email"), sender("send_sms"), sender("send_webhook")]
        return [*senders, enabled_channels, mark_failed]


@dataclass
class Harness:
    env: WorkflowEnvironment
    channels: Channels
    queue: str

    async def deliver(self, event: str, channel: str = "email") -> DeliveryResult:
        order_id = uuid.uuid4().hex[:12]
        return await self.env.client.execute_workflow(
            NotificationWorkflow.run,
            NotificationRequest(order_id=order_id, event=event, channel=channel),
            id=notification_id(order_id, event, channel),
            task_queue=self.queue,
        )

    async def notify(self, request: NotificationRequest) -> DeliveryResult:
        """A request as the order starts it since the registry: no channel named."""
        return await self.env.client.execute_workflow(
            NotificationWorkflow.run,
            request,
            id=event_notification_id(request.order_id, request.event, request.occurrence),
            task_queue=self.queue,
        )


@pytest.fixture
async def harness(time_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    channels = Channels()
    queue = f"notifications-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[NotificationWorkflow],
        activities=channels.activities(),
    ):
        yield Harness(time_env, channels, queue)


async def test_each_channel_is_delivered_by_its_own_activity(harness: Harness) -> None:
    for channel in ("email", "sms", "webhook"):
        assert (await harness.deliver("order_shipped", channel)).status == "sent"

    assert harness.channels.delivered == [
        ("send_email", "order_shipped"),
        ("send_sms", "order_shipped"),
        ("send_webhook", "order_shipped"),
    ]


async def test_a_delivery_that_fails_for_a_while_is_retried_until_it_is_sent(
    harness: Harness,
) -> None:
    harness.channels.failures = 6  # 2 + 4 + 8 + 16 + 32 + 64 s of backoff

    result = await harness.deliver("order_confirmed")

    assert result.status == "sent"
    assert len(harness.channels.calls) == 7
    assert harness.channels.failed == []


async def test_a_day_of_failures_is_recorded_failed_with_the_last_error(harness: Harness) -> None:
    harness.channels.failures = -1  # forever

    result = await harness.deliver("order_delivered")

    assert result.status == "failed"
    [failure] = harness.channels.failed
    assert failure.request.event == "order_delivered"
    assert "ConnectionRefusedError: smtp down" in failure.error
    assert "delivery window" in failure.error
    # exponential backoff capped at 15 minutes: about a hundred attempts in 24 h, not thousands
    assert 90 < len(harness.channels.calls) < 110


async def test_a_permanent_error_fails_at_once_without_retrying(harness: Harness) -> None:
    harness.channels.failures = -1
    harness.channels.error = lambda: ApplicationError(
        "customer cus_1 has no phone", type="NoPhoneNumber", non_retryable=True
    )

    result = await harness.deliver("order_shipped", "sms")

    assert result.status == "failed"
    assert len(harness.channels.calls) == 1
    assert harness.channels.failed[0].error == "NoPhoneNumber: customer cus_1 has no phone"


async def test_an_unknown_channel_is_recorded_failed(harness: Harness) -> None:
    result = await harness.deliver("order_shipped", "pigeon")

    assert result.status == "failed"
    assert harness.channels.calls == []
    assert harness.channels.failed[0].error == "unknown channel 'pigeon'"


async def test_the_delivery_window_comes_from_the_request(harness: Harness) -> None:
    harness.channels.failures = -1
    order_id = uuid.uuid4().hex[:12]
    request = NotificationRequest(order_id=order_id, event="order_accepted", channel="email")
    request.policy.window = timedelta(hours=1)

    result = await harness.env.client.execute_workflow(
        NotificationWorkflow.run,
        request,
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


async def test_without_a_channel_every_enabled_channel_is_delivered_at_once(
    harness: Harness,
) -> None:
    harness.channels.enabled = ["email", "sms", "webhook"]
    harness.channels.pause = 0.3
    request = customer_request(occurrence=2)

    result = await harness.notify(request)

    assert harness.channels.queries == [
        ChannelQuery(order_id=request.order_id, customer_id=request.customer_id)
    ]
    assert sorted(harness.channels.delivered) == [
        ("send_email", "order_shipped"),
        ("send_sms", "order_shipped"),
        ("send_webhook", "order_shipped"),
    ]
    assert all(entry.startswith("start") for entry in harness.channels.log[:3]), "at once"
    assert result.status == "sent" and set(result.channels) == {"email", "sms", "webhook"}
    assert all(r.status == "sent" for r in result.channels.values())


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
