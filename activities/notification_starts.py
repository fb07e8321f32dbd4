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

The start also chooses each notification's channels (the registry in activities/channels.py,
asked here rather than by a step of the notification's own), so a notification's history is
its sends alone: no step to choose, and no patch asked for how it chooses
(docs/performance.md, "Channels chosen at the start"); and it tells the notification to send
in its first workflow task (`sends_in_task`: a local activity each, docs/performance.md
"Sends in the workflow task"). An operator's message goes by email
to its recipient; a customer whose order or record the registry cannot find gets email,
which sends or records why not. A choice that fails otherwise (the database refusing the
query) is left to the notification, which asks the registry itself and retries inside its
delivery window, so the record step, and the order behind it, never waits on a channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.channels import FALLBACK_CHANNEL, OPERATOR_CHANNELS, ChannelQuery
from activities.notification_ports import UnknownOrder
from activities.notifications import NotificationRequest

NOTIFICATION_WORKFLOW = "NotificationWorkflow"
"""The workflow type the notifications worker runs (workflows/notification.py)."""


class NotificationStart(BaseModel):
    """One notification to start: its workflow id, its request, where it runs."""

    workflow_id: str
    request: NotificationRequest
    task_queue: str
    summary: str


Choose = Callable[[ChannelQuery], Awaitable[list[str]]]
"""The channels enabled for a customer's event (`ChannelChoice.chosen`); raises
UnknownOrder when the order or its customer is not in the read model."""


async def start_notifications(starts: Sequence[NotificationStart], choose: Choose) -> list[str]:
    """Choose each one's channels and start it (all at once), unless it was started before;
    their ids, which the step's result shows in the order's history."""
    client = activity.client()
    await asyncio.gather(*(_start(client, start, choose) for start in starts))
    return [start.workflow_id for start in starts]


async def with_channels(request: NotificationRequest, choose: Choose) -> NotificationRequest:
    """The request with the channels it goes out on; one that names them already as is."""
    if request.channel is not None or request.channels is not None:
        return request
    if request.audience == "operator":
        return request.model_copy(update={"channels": list(OPERATOR_CHANNELS)})
    query = ChannelQuery(
        order_id=request.order_id, customer_id=request.customer_id, event=request.event
    )
    try:
        channels = await choose(query)
    except UnknownOrder:
        activity.logger.warning("no customer for %s: email alone", request.order_id)
        channels = [FALLBACK_CHANNEL]
    except Exception as error:  # a notification never holds up the order's record step
        activity.logger.warning("channels not chosen for %s: %r", request.order_id, error)
        return request  # the notification asks the registry itself, inside its window
    return request.model_copy(update={"channels": channels})


async def _start(client: Client, start: NotificationStart, choose: Choose) -> None:
    request = await with_channels(start.request, choose)
    request = request.model_copy(update={"sends_in_task": True})
    try:
        await client.start_workflow(
            NOTIFICATION_WORKFLOW,
            request,
            id=start.workflow_id,
            task_queue=start.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=start.summary,
        )
    except WorkflowAlreadyStartedError:  # a retried step: started once already
        pass


class NotificationStarts:
    """The start on its own: for placing's notification (not to delay the `accepted`
    answer) and for a decision whose read-model write was refused (the record step, which
    starts them otherwise, failed for good)."""

    def __init__(self, choose: Choose) -> None:
        self._choose = choose

    @activity.defn(name="start_notifications")
    async def start(self, starts: list[NotificationStart]) -> list[str]:
        return await start_notifications(starts, self._choose)
