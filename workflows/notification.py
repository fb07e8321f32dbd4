"""NotificationWorkflow: one delivery per (order, event, channel), retried for up to a day.

Started by the order without waiting for it (`notification-{order_id}-{event}-{channel}`,
queue `notifications`); its failure never touches the order.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import (
        DeliveryResult,
        FailureInput,
        NotificationActivities,
        NotificationRequest,
    )

DELIVERY_WINDOW = timedelta(hours=24)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=15),
)


def notification_id(order_id: str, event: str, channel: str) -> str:
    return f"notification-{order_id}-{event}-{channel}"


@workflow.defn
class NotificationWorkflow:
    """Deliver one message; after a day of failures record it as failed."""

    @workflow.run
    async def run(self, request: NotificationRequest) -> DeliveryResult:
        try:
            return await workflow.execute_activity_method(
                NotificationActivities.send_email,
                request,
                start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as error:
            cause = error.cause or error
            await workflow.execute_activity_method(
                NotificationActivities.mark_failed,
                FailureInput(request=request, error=str(cause)),
                start_to_close_timeout=timedelta(seconds=30),
            )
            return DeliveryResult(status="failed")
