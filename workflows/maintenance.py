"""Housekeeping, each run by a Temporal Schedule: IdempotencyCleanupWorkflow (hourly by
default) and WebhookRetentionWorkflow (daily)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import (
        CleanupInput,
        CleanupResult,
        DeliveryRetention,
        MaintenanceActivities,
    )

SCHEDULE_ID = "idempotency-keys-cleanup"
RETENTION_SCHEDULE_ID = "webhook-deliveries-retention"


@workflow.defn
class IdempotencyCleanupWorkflow:
    """Delete the `Idempotency-Key`s older than `IDEMPOTENCY_KEY_TTL`."""

    @workflow.run
    async def run(self, inp: CleanupInput) -> CleanupResult:
        return await workflow.execute_activity_method(
            MaintenanceActivities.delete_expired_idempotency_keys,
            inp,
            summary="delete expired idempotency keys",
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )


@workflow.defn
class WebhookRetentionWorkflow:
    """Delete the finished merchant webhook deliveries older than
    `WEBHOOK_DELIVERY_RETENTION`, with their attempts."""

    @workflow.run
    async def run(self, inp: CleanupInput) -> CleanupResult:
        return await workflow.execute_activity_method(
            DeliveryRetention.delete_old_webhook_deliveries,
            inp,
            summary="delete finished webhook deliveries past their retention",
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
