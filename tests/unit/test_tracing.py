"""Tracing is off without `OTEL_EXPORTER_OTLP_ENDPOINT`, and exports over OTLP/HTTP with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from temporalio.contrib.opentelemetry import TracingInterceptor

from adapters import tracing
from adapters.settings import Settings


@pytest.fixture(autouse=True)
def no_global_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with tracing off and leaves the process's global provider alone."""
    monkeypatch.setattr(tracing, "_provider", None)
    monkeypatch.setattr(tracing.trace, "set_tracer_provider", lambda provider: None)


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A stand-in OTLP/HTTP collector that keeps what it is sent."""
    received: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_off_without_an_endpoint() -> None:
    assert tracing.configure_tracing(_settings(), process="api") is None
    assert tracing.provider() is None
    assert tracing.temporal_interceptor() is None


def test_exports_over_otlp_http_as_the_process(
    collector: tuple[str, list[tuple[str, bytes]]],
) -> None:
    endpoint, received = collector
    provider = tracing.configure_tracing(
        _settings(otel_exporter_otlp_endpoint=endpoint), process="worker-orders"
    )
    assert isinstance(provider, TracerProvider)
    assert tracing.provider() is provider
    assert isinstance(tracing.temporal_interceptor(), TracingInterceptor)
    # configured once per process
    assert tracing.configure_tracing(_settings(), process="api") is provider

    with provider.get_tracer("test").start_as_current_span("place order"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()

    [(path, body)] = received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "worker-orders"
    [scope] = resource_spans.scope_spans
    assert [span.name for span in scope.spans] == ["place order"]


def test_service_name_setting_wins() -> None:
    provider = tracing.configure_tracing(
        _settings(otel_exporter_otlp_endpoint="http://127.0.0.1:9", otel_service_name="shop-api"),
        process="api",
    )
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "shop-api"
    provider.shutdown()
