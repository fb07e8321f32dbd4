"""An order's recorded Temporal histories (the flight recorder, docs/runbook.md "Before a
deploy"): what `GET /v1/orders/{id}/history` exports and `make replay` replays.

An order is its workflow (`order-{id}`), its payment (`payment-{id}`) and its
notifications (`notification-{id}-{event}-{n}`, or the older `-{channel}` form). Children
are read off the order's own history (each child-started event names the child's id and
run): the payment, and the notifications of orders from before `notify-from-record`. Later
notifications are started by the order's record step, not as children, and are found by
their id's prefix in Temporal's visibility store (which may lag a start by a moment); a
workflow still being started (no history yet) is left out.

Histories are read as the server stores them: a history read never passes through the data
converter, so with `PAYLOAD_ENCRYPTION_KEY` set the payloads stay encrypted, and whoever
replays them needs the workers' keys (workers/replay.py uses their codec).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from google.protobuf.json_format import ParseError
from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from workflows.names import notifications_query, order_workflow_id


@dataclass(frozen=True)
class RecordedRun:
    """One workflow run of an order, with its whole history."""

    workflow_id: str
    run_id: str
    type: str
    history: WorkflowHistory


class RecordedRunJson(BaseModel):
    """A run as exported: `history` is Temporal's JSON history format (`{"events": [...]}`,
    as `temporal workflow show --output json` and the UI's download write it)."""

    workflow_id: str
    run_id: str
    type: str
    history: dict[str, Any]


class OrderHistoryJson(BaseModel):
    """The export of one order: the body of `GET /v1/orders/{id}/history`, and the file
    `make replay FILE=...` reads."""

    order_id: str
    workflows: list[RecordedRunJson]


class MalformedExport(ValueError):
    """A file that is not an order's exported history (nor a single Temporal history)."""


async def order_runs(client: Client, order_id: str) -> list[RecordedRun] | None:
    """The order's run, then each child it started, in the order it started them; None when
    Temporal has no order workflow of that id (never placed, or past the namespace's
    retention)."""
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    order = await _run(client, handle.id, described.run_id, described.workflow_type)
    children = sorted(  # in the order the workflow asked for them, not as they started
        (
            event.child_workflow_execution_started_event_attributes
            for event in order.history.events
            if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
        ),
        key=lambda started: started.initiated_event_id,
    )
    found = [
        (c.workflow_execution.workflow_id, c.workflow_execution.run_id, c.workflow_type.name)
        for c in children
    ]
    started = {workflow_id for workflow_id, _, _ in found}
    found += [n for n in await _notifications(client, order_id) if n[0] not in started]
    return [order, *await asyncio.gather(*(_run(client, *run) for run in found))]


async def _notifications(client: Client, order_id: str) -> list[tuple[str, str, str]]:
    """The order's notifications started outside its history, oldest first."""
    query = notifications_query(order_id)
    listed = [
        (w.start_time, w.id, w.run_id, w.workflow_type) async for w in client.list_workflows(query)
    ]
    return [(workflow_id, run_id, type_) for _, workflow_id, run_id, type_ in sorted(listed)]


async def _run(client: Client, workflow_id: str, run_id: str, type_: str) -> RecordedRun:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return RecordedRun(workflow_id, run_id, type_, await handle.fetch_history())


def export(order_id: str, runs: list[RecordedRun]) -> OrderHistoryJson:
    return OrderHistoryJson(
        order_id=order_id,
        workflows=[
            RecordedRunJson(
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                type=run.type,
                history=run.history.to_json_dict(),
            )
            for run in runs
        ],
    )


def parse_export(data: object, *, name: str) -> tuple[str, list[RecordedRun]]:
    """The order id and runs of an export; a single Temporal history (`{"events": [...]}`)
    is taken too, as one run named `name` (the file's name)."""
    if isinstance(data, dict) and "events" in data and "workflows" not in data:
        history = _history(name, data)
        return name, [RecordedRun(name, history.run_id, _type_of(history), history)]
    try:
        exported = OrderHistoryJson.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise MalformedExport(f"{where}: {first['msg']}") from None
    if not exported.workflows:
        raise MalformedExport("workflows: the export names no workflow")
    runs = []
    for run in exported.workflows:
        history = _history(run.workflow_id, run.history)
        runs.append(RecordedRun(run.workflow_id, run.run_id, run.type, history))
    return exported.order_id, runs


def _history(workflow_id: str, data: dict[str, Any]) -> WorkflowHistory:
    try:
        history = WorkflowHistory.from_json(workflow_id, data)
    except (ParseError, KeyError, TypeError, ValueError) as error:
        raise MalformedExport(f"{workflow_id}: not a Temporal history: {error}") from None
    if not history.events or not history.events[0].HasField(
        "workflow_execution_started_event_attributes"
    ):
        raise MalformedExport(f"{workflow_id}: a history starts with WorkflowExecutionStarted")
    return history


def _type_of(history: WorkflowHistory) -> str:
    return str(history.events[0].workflow_execution_started_event_attributes.workflow_type.name)
