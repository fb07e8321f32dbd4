"""NotificationWorkflow: one notified event, delivered on every enabled channel, each
retried for up to a day.

Started by the order without waiting for it (`event_notification_id`, queue
`notifications`); its failure never touches the order. A request without a channel first
asks the channel registry (activities/channels.py) which channels are on for the customer
(an operator's message: email to its recipient), then delivers on each at once. A request
naming its channel (every one the order started before the registry,
`notification-{order_id}-{event}-{channel}`) delivers on that one alone, as it always did.
Each channel's send activity guards the "once" (activities/delivery_claims.py explains
how); this workflow only retries it with exponential backoff inside the delivery window and
records the outcome when it gives up.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from activities.channels import (
        CHANNELS,
        FALLBACK_CHANNEL,
        OPERATOR_CHANNELS,
        ChannelChoice,
        ChannelQuery,
    )
    from activities.notifications import (
        DeliveryPolicy,
        DeliveryResult,
        FailureInput,
        NotificationActivities,
        NotificationRequest,
    )
    from workflows.attention import AttentionMixin


def notification_id(order_id: str, event: str, channel: str) -> str:
    """One channel's delivery, as the order started them before the channel registry."""
    return f"notification-{order_id}-{event}-{channel}"


def event_notification_id(order_id: str, event: str, occurrence: int) -> str:
    """The `occurrence`-th notification of `event` for the order, on all its channels."""
    return f"notification-{order_id}-{event}-{occurrence}"


def last_error(error: BaseException) -> str:
    """The deepest cause: the last attempt's error rather than "retries ran out"."""
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ApplicationError):
        text = f"{cause.type}: {cause.message}" if cause.type else cause.message
    else:
        text = str(cause)
    if isinstance(error, ActivityError) and error.retry_state == RetryState.TIMEOUT:
        return f"gave up after the delivery window; last error: {text}"
    return text


CHOICE_IN_TASK = "channel-choice-in-task"
"""Patch id: the channel choice runs as a local activity (a regular one cost every
notification a round trip through the server and a workflow task)."""


def _retries(policy: DeliveryPolicy) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=policy.first_retry,
        backoff_coefficient=2.0,
        maximum_interval=policy.max_retry_interval,
    )


@workflow.defn
class NotificationWorkflow(AttentionMixin):
    """Deliver one event's message; a channel failing for a day is recorded as failed."""

    @workflow.run
    async def run(self, request: NotificationRequest) -> DeliveryResult:
        if request.channel is None:
            return await self._every_channel(request)
        return await self._deliver(request, alone=True)

    async def _every_channel(self, request: NotificationRequest) -> DeliveryResult:
        if request.audience == "operator":
            names = list(OPERATOR_CHANNELS)
        else:
            try:
                names = await self._choose(request)
            except (ActivityError, ApplicationError) as error:  # a local one's comes bare
                workflow.logger.warning("no channels chosen: %s", last_error(error))
                names = [FALLBACK_CHANNEL]
        delivered = await asyncio.gather(
            *(self._deliver(request.on(name), alone=False) for name in names)
        )
        self.clear_attention()  # every channel is done: sent, or recorded failed
        return DeliveryResult.of_channels(dict(zip(names, delivered, strict=True)))

    async def _choose(self, request: NotificationRequest) -> list[str]:
        """The customer's channels, from the registry (activities/channels.py): a local
        activity, in the workflow task that started the notification (one short query; its
        retries past the first seconds wait on timers, inside the delivery window)."""
        query = ChannelQuery(order_id=request.order_id, customer_id=request.customer_id)
        if workflow.patched(CHOICE_IN_TASK):
            choice = workflow.execute_local_activity_method(
                ChannelChoice.enabled_channels,
                query,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=_retries(request.policy),
                local_retry_threshold=timedelta(seconds=5),
                summary="choose the channels",
            )
            try:  # a local activity's retries are bounded here, by a workflow timer
                return await asyncio.wait_for(choice, request.policy.window.total_seconds())
            except TimeoutError:
                raise ApplicationError("no channels chosen within the delivery window") from None
        return await workflow.execute_activity_method(
            ChannelChoice.enabled_channels,
            query,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=request.policy.window,
            retry_policy=_retries(request.policy),
            summary="choose the channels",
        )

    async def _deliver(self, request: NotificationRequest, *, alone: bool) -> DeliveryResult:
        """One channel: its sender, retried inside the delivery window."""
        channel = CHANNELS.get(request.channel or "")
        if channel is None:
            return await self._give_up(request, f"unknown channel {request.channel!r}", alone)
        policy = request.policy
        try:
            return await workflow.execute_activity_method(
                channel.send,
                request,
                start_to_close_timeout=policy.attempt_timeout,
                heartbeat_timeout=policy.heartbeat_timeout,
                schedule_to_close_timeout=policy.window,
                retry_policy=_retries(policy),
                summary=f"{request.event} by {request.channel}",
            )
        except ActivityError as error:
            return await self._give_up(request, last_error(error), alone)

    async def _give_up(
        self, request: NotificationRequest, error: str, alone: bool
    ) -> DeliveryResult:
        """Record the delivery failed. `alone`: nothing else runs, so the attention goes now
        (the API shows the failure, nothing is stuck); a channel among others leaves that to
        the end, when the others are done too."""
        workflow.logger.warning("notification failed: %s", error)
        if alone:
            self.clear_attention()
        await workflow.execute_activity_method(
            NotificationActivities.mark_failed,
            FailureInput(request=request, error=error),
            summary="record the delivery as failed",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),  # until the DB is back
        )
        return DeliveryResult(status="failed")
