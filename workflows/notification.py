"""NotificationWorkflow: one notified event, delivered on every enabled channel, each
retried for up to a day.

Started for the order by the step that records its decision
(activities/notification_starts.py; before, by the order as a child), with the id
`event_notification_id`, on queue `notifications`; its failure never touches the order. That
step chooses the channels (`channels`), and this workflow delivers on each at once. A request
started before the step chose them first asks the channel registry (activities/channels.py)
itself (an operator's message: email to its recipient). A request
naming its channel (every one the order started before the registry,
`notification-{order_id}-{event}-{channel}`) delivers on that one alone, as it always did.
Each channel's send activity guards the "once" (activities/delivery_claims.py explains
how); this workflow only retries it with exponential backoff inside the delivery window and
records the outcome when it gives up. A request started since 2026-12-05 (`sends_in_task`)
runs each send as a local activity in its first workflow task: started, one task, a marker
per channel, completed.

The `webhook` channel goes to the merchant's endpoints (docs/webhooks.md): a local activity
plans one delivery per endpoint taking the event, then each is delivered at once as a step of
its own (workflows/webhook_delivery.py), recorded in the delivery log rather than in the
order's notifications. A notification whose channels include no webhook never reaches that
code, so its history is what it was before endpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.channels import (
        CHANNELS,
        FALLBACK_CHANNEL,
        OPERATOR_CHANNELS,
        ChannelChoice,
        ChannelQuery,
        Sender,
    )
    from activities.notification_starts import NOTIFICATION_WORKFLOW
    from activities.notifications import (
        DeliveryPolicy,
        DeliveryResult,
        FailureInput,
        NotificationActivities,
        NotificationRequest,
    )
    from activities.webhooks import WebhookActivities, WebhookEvent, WebhookResult
    from workflows.attention import AttentionMixin
    from workflows.delivery_retries import (
        RECORDING,
        attempts,
        in_task,
        last_error,
        retries,
    )
    from workflows.names import notification_prefix
    from workflows.webhook_contracts import WebhookDelivery

from workflows.webhook_delivery import deliver_webhook


def notification_id(order_id: str, event: str, channel: str) -> str:
    """One channel's delivery, as the order started them before the channel registry."""
    return f"{notification_prefix(order_id)}{event}-{channel}"


def event_notification_id(order_id: str, event: str, occurrence: int) -> str:
    """The `occurrence`-th notification of `event` for the order, on all its channels."""
    return f"{notification_prefix(order_id)}{event}-{occurrence}"


CHOICE_IN_TASK = "channel-choice-in-task"
"""Patch id: the channel choice runs as a local activity (a regular one cost every
notification a round trip through the server and a workflow task)."""

WEBHOOK_ENDPOINTS = "webhook-endpoints"
"""Patch id: the `webhook` channel delivers to each merchant endpoint taking the event
(before: `send_webhook` to MERCHANT_WEBHOOK_URL). Asked only on the webhook channel, so a
notification without one records no marker, and not by one whose channels were chosen when
it was started (all started after endpoints)."""

Result = TypeVar("Result")

WINDOW_CLOSED = "gave up after the delivery window"


def _webhook_result(results: list[WebhookResult]) -> DeliveryResult:
    """The channel's outcome over its deliveries: those whose endpoint was deleted, or whose
    redelivery took over, are no longer this notification's to send."""
    owed = [r for r in results if r.status in ("sent", "failed")]
    sent = [r.status == "sent" for r in owed]
    status = "sent" if all(sent) else "partial" if any(sent) else "failed"
    return DeliveryResult(status=status, duplicate=bool(owed) and all(r.duplicate for r in owed))


@workflow.defn(name=NOTIFICATION_WORKFLOW)
class NotificationWorkflow(AttentionMixin):
    """Deliver one event's message; a channel failing for a day is recorded as failed."""

    @workflow.run
    async def run(self, request: NotificationRequest) -> DeliveryResult:
        if request.channel is None:
            return await self._every_channel(request)
        return await self._deliver(request, alone=True)

    async def _every_channel(self, request: NotificationRequest) -> DeliveryResult:
        if request.channels is not None:  # chosen by the step that started it
            names = list(request.channels)
        elif request.audience == "operator":
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
        query = ChannelQuery(
            order_id=request.order_id, customer_id=request.customer_id, event=request.event
        )
        if workflow.patched(CHOICE_IN_TASK):
            choice = workflow.execute_local_activity_method(
                ChannelChoice.enabled_channels,
                query,
                **in_task(request.policy),
                summary="choose the channels",
            )
            return await self._within_window(choice, request.policy, "no channels chosen")
        return await workflow.execute_activity_method(
            ChannelChoice.enabled_channels,
            query,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=request.policy.window,
            retry_policy=retries(request.policy),
            summary="choose the channels",
        )

    @staticmethod
    async def _within_window(
        step: Awaitable[Result], policy: DeliveryPolicy, failure: str
    ) -> Result:
        """A local activity's retries are bounded here, by a workflow timer."""
        try:
            return await asyncio.wait_for(step, policy.window.total_seconds())
        except TimeoutError:
            raise ApplicationError(f"{failure} within the delivery window") from None

    async def _deliver(self, request: NotificationRequest, *, alone: bool) -> DeliveryResult:
        """One channel: its sender, retried inside the delivery window."""
        if request.channel == "webhook" and (
            request.channels is not None or workflow.patched(WEBHOOK_ENDPOINTS)
        ):  # channels chosen at the start: started after endpoints, asks no patch
            return await self._to_endpoints(request, alone=alone)
        channel = CHANNELS.get(request.channel or "")
        if channel is None:
            return await self._give_up(request, f"unknown channel {request.channel!r}", alone)
        summary = f"{request.event} by {request.channel}"
        try:
            if request.sends_in_task:
                return await self._send_in_task(channel.send, request, summary)
            return await workflow.execute_activity_method(
                channel.send, request, **attempts(request.policy), summary=summary
            )
        except (ActivityError, ApplicationError) as error:  # a local one's comes bare
            return await self._give_up(request, last_error(error), alone)
        except TimeoutError:  # in the task: the window's timer, the attempts' errors recorded
            return await self._give_up(request, WINDOW_CLOSED, alone, after_attempts=True)

    async def _send_in_task(
        self, send: Sender, request: NotificationRequest, summary: str
    ) -> DeliveryResult:
        """The send as a local activity (requests started since 2026-12-05): it runs in the
        workflow task that started the notification, so a message sent at the first attempt
        costs the history one marker instead of an activity's three events and a second
        workflow task. Its retries past the first seconds wait on workflow timers, and a
        workflow timer ends them at the window (one cancelled in the task that set it leaves
        no event). A local activity's window ended by the SDK would report no attempt's
        error; each attempt's release records it in the delivery's row instead."""
        sending = workflow.execute_local_activity_method(
            send,
            request,
            **in_task(request.policy, request.policy.attempt_timeout),
            summary=summary,
        )
        return await asyncio.wait_for(sending, request.policy.window.total_seconds())

    async def _to_endpoints(self, request: NotificationRequest, *, alone: bool) -> DeliveryResult:
        """The event to every merchant endpoint taking it: the deliveries are planned in this
        workflow task (a local activity), then each is a step of its own, all at once. The
        delivery log records each; nothing goes to the order's notifications."""
        event = WebhookEvent(
            order_id=request.order_id, event=request.event, occurrence=request.occurrence
        )
        planning = workflow.execute_local_activity_method(
            WebhookActivities.plan,
            event,
            **in_task(request.policy),
            summary="plan the webhook deliveries",
        )
        try:
            planned = await self._within_window(planning, request.policy, "no deliveries planned")
        except (ActivityError, ApplicationError) as error:  # a local one's comes bare
            workflow.logger.warning("webhook deliveries not planned: %s", last_error(error))
            if alone:
                self.clear_attention()
            return DeliveryResult(status="failed")
        results = await asyncio.gather(
            *(
                deliver_webhook(WebhookDelivery(delivery_id=delivery_id, policy=request.policy))
                for delivery_id in planned
            )
        )
        if alone:
            self.clear_attention()
        return _webhook_result(list(results))

    async def _give_up(
        self, request: NotificationRequest, error: str, alone: bool, *, after_attempts: bool = False
    ) -> DeliveryResult:
        """Record the delivery failed. `alone`: nothing else runs, so the attention goes now
        (the API shows the failure, nothing is stuck); a channel among others leaves that to
        the end, when the others are done too. `after_attempts`: the last attempt's recorded
        error follows `error`."""
        workflow.logger.warning("notification failed: %s", error)
        if alone:
            self.clear_attention()
        await workflow.execute_activity_method(
            NotificationActivities.mark_failed,
            FailureInput(request=request, error=error, after_attempts=after_attempts),
            summary="record the delivery as failed",
            **RECORDING,
        )
        return DeliveryResult(status="failed")
