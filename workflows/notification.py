"""NotificationWorkflow: one delivery per (order, event, channel), retried for up to a day.

Started by the order without waiting for it (`notification-{order_id}-{event}-{channel}`,
queue `notifications`); its failure never touches the order. The send activity guards the
"once" (activities/notifications.py explains how); this workflow only retries it with
exponential backoff inside the delivery window and records the outcome when it gives up.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from activities.notifications import (
        DeliveryResult,
        FailureInput,
        NotificationActivities,
        NotificationRequest,
    )
    from workflows.attention import AttentionMixin

SENDERS = {
    "email": NotificationActivities.send_email,
    "sms": NotificationActivities.send_sms,
    "webhook": NotificationActivities.send_webhook,
}


def notification_id(order_id: str, event: str, channel: str) -> str:
    return f"notification-{order_id}-{event}-{channel}"


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


@workflow.defn
class NotificationWorkflow(AttentionMixin):
    """Deliver one message; after a day of failures record it as failed."""

    @workflow.run
    async def run(self, request: NotificationRequest) -> DeliveryResult:
        send = SENDERS.get(request.channel)
        if send is None:
            error = f"unknown channel {request.channel!r}"
            return await self._give_up(request, error)
        policy = request.policy
        try:
            return await workflow.execute_activity_method(
                send,
                request,
                start_to_close_timeout=policy.attempt_timeout,
                heartbeat_timeout=policy.heartbeat_timeout,
                schedule_to_close_timeout=policy.window,
                retry_policy=RetryPolicy(
                    initial_interval=policy.first_retry,
                    backoff_coefficient=2.0,
                    maximum_interval=policy.max_retry_interval,
                ),
                summary=f"{request.event} by {request.channel}",
            )
        except ActivityError as error:
            return await self._give_up(request, last_error(error))

    async def _give_up(self, request: NotificationRequest, error: str) -> DeliveryResult:
        workflow.logger.warning("notification failed: %s", error)
        self.clear_attention()  # recorded failed below: the API shows it, nothing is stuck
        await workflow.execute_activity_method(
            NotificationActivities.mark_failed,
            FailureInput(request=request, error=error),
            summary="record the delivery as failed",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),  # until the DB is back
        )
        return DeliveryResult(status="failed")
