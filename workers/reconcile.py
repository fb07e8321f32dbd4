"""`python -m workers.reconcile` (`make reconcile`): run the reconciliation now and wait."""

from __future__ import annotations

import asyncio
import uuid

from activities.reconciliation import ReconcileInput
from adapters.settings import get_settings
from adapters.temporal import connect
from workflows.names import PAYMENTS_QUEUE
from workflows.reconciliation import ReconciliationWorkflow


async def reconcile() -> None:
    client = await connect(get_settings())
    result = await client.execute_workflow(
        ReconciliationWorkflow.run,
        ReconcileInput(),
        id=f"reconciliation-manual-{uuid.uuid4().hex[:8]}",
        task_queue=PAYMENTS_QUEUE,
    )
    print(
        f"report {result.report_id}: {result.checked} intents checked, "
        f"{result.mismatches} mismatches (GET /v1/payments/reconciliation)"
    )


if __name__ == "__main__":
    asyncio.run(reconcile())
