"""IdempotencyCleanupWorkflow: run by a Temporal Schedule (hourly by default)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import CleanupInput, CleanupResult, MaintenanceActivities

SCHEDULE_ID = "idempotency-keys-cleanup"


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
