"""Traces and request ids follow one order from HTTP through Temporal to the activities.

The engine runs here once more, in its own namespace (its workers own the usual task queue
names there) with tracing on into an in-memory exporter, and with a probe interceptor inside
the request id's one: the probe writes a log line from workflow code and from every activity,
as their own log lines would be written, so the test reads what they would carry.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio import activity, client, worker, workflow
from temporalio.client import Client

from adapters import tracing
from adapters.logs import add_trace_context
from adapters.settings import Settings
from adapters.temporal import connect
from api.main import create_app
from tests.integration.helpers import customer, order_body, wait_for_status
from tests.integration.test_operations import _namespace
from workers import notifications, orders, payments

pytestmark = pytest.mark.integration


class Probe(client.Interceptor, worker.Interceptor):
    """Logs one line in workflow code and in each activity, after the engine's interceptors
    have bound their context: a structlog line in activities, `workflow.logger` in workflows
    (as the workflows log)."""

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _ProbeActivity(next)

    def workflow_interceptor_class(
        self, input: worker.WorkflowInterceptorClassInput
    ) -> type[worker.WorkflowInboundInterceptor]:
        return _ProbeWorkflow


class _ProbeActivity(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        structlog.get_logger().info("probe_activity", type=activity.info().activity_type)
        return await super().execute_activity(input)


class _ProbeWorkflow(worker.WorkflowInboundInterceptor):
    async def execute_workflow(self, input: worker.ExecuteWorkflowInput) -> Any:
        workflow.logger.info("probe_workflow %s", workflow.info().workflow_type)
        return await super().execute_workflow(input)


class StdlibLines(logging.Handler):
    """Formats stdlib records as `configure_logging` does (structlog's context merged in, at
    the moment of the call) and keeps them as dicts."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []
        self.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(default=str),
                ],
                foreign_pre_chain=[structlog.contextvars.merge_contextvars],
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@contextmanager
def stdlib_lines() -> Iterator[StdlibLines]:
    handler = StdlibLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class Traced:
    api: httpx.AsyncClient
    spans: InMemorySpanExporter


@pytest.fixture(scope="module")
async def traced(settings: Settings) -> AsyncIterator[Traced]:
    """The API in-process and the three workers, all with tracing on and the probe."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    own = settings.model_copy(update={"temporal_namespace": await _namespace(settings)})
    async with AsyncExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            # what configure_tracing installs when OTEL_EXPORTER_OTLP_ENDPOINT is set
            patch.setattr(tracing, "_provider", provider)
            temporal = await connect(own)
            config = temporal.config()
            probed = Client(**{**config, "interceptors": [*config["interceptors"], Probe()]})
            for module in (orders, payments, notifications):
                await stack.enter_async_context(await module.build(probed, own))
            app = create_app(own)
            await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://api")
        )
        yield Traced(api, exporter)
    provider.shutdown()


async def _place(api: httpx.AsyncClient, request_id: str) -> str:
    headers = await customer(api)
    placed = await api.post(
        "/v1/orders",
        json=order_body({"TSHIRT-BLUE-M": 1}),
        headers={**headers, "X-Request-ID": request_id},
    )
    assert placed.status_code == 201, placed.text
    order_id: str = placed.json()["id"]
    await wait_for_status(api, headers, order_id, "confirmed")
    return order_id


def _one(spans: list[ReadableSpan], prefix: str, workflow_id: str | None = None) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name.startswith(prefix)
        and (workflow_id is None or (s.attributes or {}).get("temporalWorkflowID") == workflow_id)
    ]
    assert found, f"no {prefix!r} span among {sorted({s.name for s in spans})}"
    return found[0]


async def test_one_trace_spans_the_request_the_workflow_and_its_activities(
    traced: Traced,
) -> None:
    traced.spans.clear()
    order_id = await _place(traced.api, f"req-{uuid.uuid4().hex}")
    spans = list(traced.spans.get_finished_spans())

    [request] = [
        s
        for s in spans
        if s.kind is SpanKind.SERVER and (s.attributes or {}).get("http.route") == "/v1/orders"
    ]
    assert request.context is not None
    trace_id = request.context.trace_id
    workflow_id = f"order-{order_id}"
    start = _one(spans, "StartUpdateWithStartWorkflow:OrderWorkflow", workflow_id)
    run = _one(spans, "RunWorkflow:OrderWorkflow", workflow_id)
    act = _one(spans, "RunActivity:", workflow_id)
    child = _one(spans, "RunWorkflow:PaymentWorkflow")
    payment = _one(spans, "RunActivity:authorize_payment")
    for span in (start, run, act, child, payment):
        assert span.context is not None
        assert span.context.trace_id == trace_id, f"{span.name} is in another trace"
    # the Temporal client call is made inside the HTTP request's span
    assert start.parent is not None
    assert start.parent.span_id in {s.context.span_id for s in spans if s.context}
    # health and metrics scrapes make no traces
    traced.spans.clear()
    await traced.api.get("/healthz")
    await traced.api.get("/metrics")
    # (a span of an earlier request may still end after the clear: only these two count)
    scrapes = [
        s
        for s in traced.spans.get_finished_spans()
        if s.kind is SpanKind.SERVER
        and any(
            path in str(value)
            for value in (s.attributes or {}).values()
            for path in ("/healthz", "/metrics")
        )
    ]
    assert not scrapes


async def test_request_id_reaches_workflow_and_activity_log_lines(traced: Traced) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    traced.spans.clear()
    with (
        structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars, add_trace_context]
        ) as got,
        stdlib_lines() as stdlib,
    ):
        order_id = await _place(traced.api, request_id)

    activities = [line for line in got if line["event"] == "probe_activity"]
    mine = [line for line in activities if line.get("order_id") == order_id]
    assert {"reserve_stock", "authorize_payment"} <= {line["type"] for line in mine}, activities
    [request] = [
        s
        for s in traced.spans.get_finished_spans()
        if s.kind is SpanKind.SERVER and (s.attributes or {}).get("http.route") == "/v1/orders"
    ]
    assert request.context is not None
    for line in mine:
        assert line["request_id"] == request_id, line
        assert order_id in line["workflow_id"]  # order-, payment-, notification-<order id>
        # and each line leads to the order's trace (the activity's own span in it)
        assert line["trace_id"] == trace.format_trace_id(request.context.trace_id), line
        assert len(line["span_id"]) == 16

    workflows = [
        line
        for line in stdlib.lines
        if str(line["event"]).startswith("probe_workflow") and line.get("order_id") == order_id
    ]
    # workflow.logger appends the workflow's info to the message
    assert {"OrderWorkflow", "PaymentWorkflow"} <= {
        str(line["event"]).split()[1] for line in workflows
    }, stdlib.lines
    for line in workflows:
        assert line["request_id"] == request_id, line
