"""One merchant webhook delivery's attempt series, as a workflow step and as a workflow.

`deliver_webhook` is the step: the notification workflow runs it for each endpoint taking an
event (series 1), and `WebhookDeliveryWorkflow` runs it alone for a redelivery the API
starts (series 2 on). The activity claims the delivery and records each attempt
(activities/webhooks.py); the step retries it with backoff inside the policy's window (24 h)
and, when the window runs out or the endpoint is disabled, records the delivery failed.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities, WebhookFailure, WebhookResult
    from workflows.attention import AttentionMixin
    from workflows.delivery_retries import RECORDING, attempts, last_error
    from workflows.webhook_contracts import WEBHOOK_DELIVERY_WORKFLOW, WebhookDelivery


async def deliver_webhook(delivery: WebhookDelivery) -> WebhookResult:
    """Attempt the series until the endpoint takes it; failed after the window."""
    try:
        return await workflow.execute_activity_method(
            WebhookActivities.deliver,
            delivery,
            **attempts(delivery.policy),
            summary=f"webhook {delivery.delivery_id} series {delivery.series}",
        )
    except ActivityError as error:
        reason = last_error(error)
        workflow.logger.warning("webhook delivery failed: %s", reason)
        await workflow.execute_activity_method(
            WebhookActivities.give_up,
            WebhookFailure(delivery=delivery, error=reason),
            summary="record the delivery as failed",
            **RECORDING,
        )
        return WebhookResult(status="failed", error=reason)


@workflow.defn(name=WEBHOOK_DELIVERY_WORKFLOW)
class WebhookDeliveryWorkflow(AttentionMixin):
    """A redelivery: a new attempt series of one delivery, for the same event id."""

    @workflow.run
    async def run(self, delivery: WebhookDelivery) -> WebhookResult:
        result = await deliver_webhook(delivery)
        self.clear_attention()
        return result
