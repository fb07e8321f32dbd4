"""ReconciliationWorkflow: run by a Temporal Schedule (daily) or on demand."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import (
        ReconcileInput,
        ReconcileResult,
        ReconciliationActivities,
    )
    from workflows.attention import AttentionMixin

SCHEDULE_ID = "payments-reconciliation"


@workflow.defn
class ReconciliationWorkflow(AttentionMixin):
    """Compare the payment ledger with the payment provider and record the mismatches."""

    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileResult:
        return await workflow.execute_activity_method(
            ReconciliationActivities.reconcile_payments,
            inp,
            summary="compare the ledger with the payment provider",
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
