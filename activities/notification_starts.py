"""Starting an order's notifications from the step that records its decision (queue `orders`).

Each NotificationWorkflow is started by the worker's Temporal client, not as a child of the
order: the order's history then carries none of its start, started and completed events,
nor the workflow tasks those woke (about 30 events per happy-path order, docs/performance.md
"Lighter histories"). The notification keeps its id (`notification-{order}-{event}-{n}`,
docs/runbook.md) and its own history, as before.

Once per id: a start that finds the workflow running, or finished, does nothing (the id
reuse policy refuses a second run of a closed id), so a step retried after it started some
never notifies twice; each channel's send is kept once by its delivery claim in any case
(activities/delivery_claims.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.notifications import NotificationRequest

NOTIFICATION_WORKFLOW = "NotificationWorkflow"
"""The workflow type the notifications worker runs (workflows/notification.py)."""


class NotificationStart(BaseModel):
    """One notification to start: its workflow id, its request, where it runs."""

    workflow_id: str
    request: NotificationRequest
    task_queue: str
    summary: str


async def start_notifications(starts: Sequence[NotificationStart]) -> list[str]:
    """Start each (at once), unless it was started before; their ids, which the step's
    result shows in the order's history."""
    client = activity.client()
    await asyncio.gather(*(_start(client, start) for start in starts))
    return [start.workflow_id for start in starts]


async def _start(client: Client, start: NotificationStart) -> None:
    try:
        await client.start_workflow(
            NOTIFICATION_WORKFLOW,
            start.request,
            id=start.workflow_id,
            task_queue=start.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=start.summary,
        )
    except WorkflowAlreadyStartedError:  # a retried step: started once already
        pass


class NotificationStarts:
    """The start on its own, for a decision whose read-model write was refused (the record
    step, which starts them otherwise, failed for good)."""

    @activity.defn(name="start_notifications")
    async def start(self, starts: list[NotificationStart]) -> list[str]:
        return await start_notifications(starts)
