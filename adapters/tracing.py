"""Traces: OpenTelemetry from the HTTP request through Temporal to the activities.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then each process (`configure_tracing`, next
to `configure_logging`) installs an SDK tracer provider exporting over OTLP/HTTP, and
`provider()` hands it to the FastAPI instrumentation and to `adapters.temporal.connect`, which
adds Temporal's `TracingInterceptor` (workers inherit it from their client). Off, nothing is
installed and nothing wraps a request or a workflow.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

from adapters.settings import Settings

_provider: TracerProvider | None = None


def provider() -> TracerProvider | None:
    """The process's tracer provider, or None when tracing is off."""
    return _provider


def configure_tracing(settings: Settings, *, process: str) -> TracerProvider | None:
    """Export spans to `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL; spans go to
    `/v1/traces`) as `OTEL_SERVICE_NAME`, by default the process (`api`, `worker-orders`).
    The exporter's other `OTEL_EXPORTER_OTLP_*` variables (headers, TLS) still apply."""
    global _provider
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint or _provider is not None:
        return _provider
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or process})
    _provider = TracerProvider(resource=resource)  # flushes its spans at exit
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(_provider)
    return _provider


def temporal_interceptor() -> TracingInterceptor | None:
    """Spans for starts, updates, signals, workflow runs and activities, when tracing is on."""
    current = provider()
    if current is None:
        return None
    return TracingInterceptor(current.get_tracer("commerce-engine"))
