"""One correlation id from HTTP to Stripe: a Temporal interceptor carries the request id.

The API binds `request_id` in structlog's context; the client half of `CorrelationInterceptor`
copies it into a Temporal header on every start, signal, update and query. The worker half
binds it again, with `workflow_id` and `order_id`, around workflow code (main run, signal and
update handlers, each its own task) and activities, and passes it on to the activities and
child workflows they start. So `grep <request id>` finds the API line, the workflow lines and
the Stripe activity lines of one order. The header is not a secret and is not encrypted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

import structlog
from prometheus_client import Counter
from temporalio import activity, client, worker, workflow
from temporalio.api.common.v1 import Payload

HEADER = "request-id"
_ORDER_ID = re.compile(r"ord_[0-9a-zA-Z]+")

ACTIVITY_RUNS = Counter(
    "engine_activity_runs_total",
    "Activity attempts by activity type and outcome (ok, error type).",
    ["task_queue", "activity", "outcome"],
)


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def order_id_of(workflow_id: str) -> str | None:
    """`order-ord_x`, `payment-ord_x`, `notification-ord_x-...` all name the order `ord_x`."""
    match = _ORDER_ID.search(workflow_id)
    return match.group(0) if match else None


def _with_request_id(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    request_id = current_request_id()
    if request_id is None or HEADER in headers:
        return headers
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(request_id).encode())
    return {**headers, HEADER: payload}


def _request_id_of(headers: Mapping[str, Payload]) -> str | None:
    payload = headers.get(HEADER)
    if payload is None:
        return None
    try:
        value = json.loads(payload.data)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _bind(headers: Mapping[str, Payload], workflow_id: str) -> None:
    """Bind in the current task's context only (each handler runs in its own task)."""
    context: dict[str, str] = {"workflow_id": workflow_id}
    if request_id := _request_id_of(headers):
        context["request_id"] = request_id
    if order_id := order_id_of(workflow_id):
        context["order_id"] = order_id
    structlog.contextvars.bind_contextvars(**context)


class CorrelationInterceptor(client.Interceptor, worker.Interceptor):
    """Client and worker interceptor in one: workers inherit it from their client."""

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _ClientOutbound(next)

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: worker.WorkflowInterceptorClassInput
    ) -> type[worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ClientOutbound(client.OutboundInterceptor):
    async def start_workflow(
        self, input: client.StartWorkflowInput
    ) -> client.WorkflowHandle[Any, Any]:
        input.headers = _with_request_id(input.headers)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: client.SignalWorkflowInput) -> None:
        input.headers = _with_request_id(input.headers)
        await super().signal_workflow(input)

    async def query_workflow(self, input: client.QueryWorkflowInput) -> Any:
        input.headers = _with_request_id(input.headers)
        return await super().query_workflow(input)

    async def start_workflow_update(
        self, input: client.StartWorkflowUpdateInput
    ) -> client.WorkflowUpdateHandle[Any]:
        input.headers = _with_request_id(input.headers)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: client.StartWorkflowUpdateWithStartInput
    ) -> client.WorkflowUpdateHandle[Any]:
        start, update = input.start_workflow_input, input.update_workflow_input
        start.headers = _with_request_id(start.headers)
        update.headers = _with_request_id(update.headers)
        return await super().start_update_with_start_workflow(input)


class _WorkflowInbound(worker.WorkflowInboundInterceptor):
    def init(self, outbound: worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def execute_workflow(self, input: worker.ExecuteWorkflowInput) -> Any:
        _bind(input.headers, workflow.info().workflow_id)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: worker.HandleSignalInput) -> None:
        _bind(input.headers, workflow.info().workflow_id)
        await super().handle_signal(input)

    async def handle_update_handler(self, input: worker.HandleUpdateInput) -> Any:
        _bind(input.headers, workflow.info().workflow_id)
        return await super().handle_update_handler(input)


class _WorkflowOutbound(worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: worker.StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_request_id(input.headers)
        return super().start_activity(input)

    def start_local_activity(
        self, input: worker.StartLocalActivityInput
    ) -> workflow.ActivityHandle[Any]:
        input.headers = _with_request_id(input.headers)
        return super().start_local_activity(input)

    async def start_child_workflow(
        self, input: worker.StartChildWorkflowInput
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        input.headers = _with_request_id(input.headers)
        return await super().start_child_workflow(input)

    async def signal_child_workflow(self, input: worker.SignalChildWorkflowInput) -> None:
        input.headers = _with_request_id(input.headers)
        await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: worker.SignalExternalWorkflowInput) -> None:
        input.headers = _with_request_id(input.headers)
        await super().signal_external_workflow(input)

    def continue_as_new(self, input: worker.ContinueAsNewInput) -> NoReturn:
        input.headers = _with_request_id(input.headers)
        super().continue_as_new(input)


class _ActivityInbound(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        context = {"workflow_id": info.workflow_id or "", "activity": info.activity_type}
        if request_id := _request_id_of(input.headers):
            context["request_id"] = request_id
        if order_id := order_id_of(info.workflow_id or ""):
            context["order_id"] = order_id
        labels = (info.task_queue, info.activity_type)
        with structlog.contextvars.bound_contextvars(**context):
            try:
                result = await super().execute_activity(input)
            except BaseException as error:
                outcome = getattr(error, "type", None) or type(error).__name__
                ACTIVITY_RUNS.labels(*labels, outcome).inc()
                raise
            ACTIVITY_RUNS.labels(*labels, "ok").inc()
            return result
