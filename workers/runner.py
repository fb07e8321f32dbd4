"""Runs one worker until SIGTERM or SIGINT, then lets in-flight tasks finish.

On a signal the worker stops polling and gives running activities
`WORKER_GRACEFUL_SHUTDOWN` to complete before they are cancelled (Temporal retries them
elsewhere). With `<QUEUE>_METRICS_PORT` set, the worker serves `/metrics` (the Temporal SDK's
Prometheus metrics plus the engine's own) and `/healthz` on that port.
"""

from __future__ import annotations

import asyncio
import compileall
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypedDict

import httpx
import structlog
import uvloop
from prometheus_client import generate_latest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    Interceptor,
    PollerBehavior,
    PollerBehaviorSimpleMaximum,
    Worker,
    WorkerDeploymentConfig,
)

from adapters import tracing
from adapters.logs import configure_logging
from adapters.settings import Settings, get_settings
from adapters.temporal import connect, connect_failed
from workers.attention import AttentionInterceptor
from workers.versioning import build_id, deployment_config
from workflows.names import PAYMENTS_QUEUE

log = structlog.get_logger()

WorkerFactory = Callable[[Client, Settings], Awaitable[Worker]]
Closer = Callable[[], Awaitable[object]]


class WorkerOptions(TypedDict):
    """The `Worker(...)` keyword arguments the settings decide, per task queue."""

    graceful_shutdown_timeout: timedelta
    max_concurrent_activities: int
    max_concurrent_local_activities: int
    max_concurrent_workflow_tasks: int
    max_cached_workflows: int
    workflow_task_poller_behavior: PollerBehavior
    nonsticky_to_sticky_poll_ratio: float
    activity_task_poller_behavior: PollerBehavior
    build_id: str | None
    deployment_config: WorkerDeploymentConfig | None
    max_task_queue_activities_per_second: float | None
    interceptors: Sequence[Interceptor]


def worker_options(settings: Settings, queue: str) -> WorkerOptions:
    """Concurrency, pollers (and their split between new and cached workflows), sticky
    cache size, version, shutdown grace, rate limit and the attention interceptor (a step
    that keeps failing is flagged, workers/attention.py) for `queue`'s worker.

    The version: with versioning on, the worker polls as a version of the worker deployment
    (workers/versioning.py); off, it only names its build, as before versioning.

    The payments queue is rate-limited: Stripe's limit is per account, so Temporal
    enforces it across every payments worker. The price: the SDK then dispatches no activity
    of that queue eagerly (in the workflow task's answer), each goes through matching.
    """
    activities: int = getattr(settings, f"{queue}_max_concurrent_activities")
    nonsticky: float = getattr(settings, f"{queue}_nonsticky_poll_ratio")
    pollers = PollerBehaviorSimpleMaximum(maximum=max(2, settings.worker_max_pollers))
    version = deployment_config(settings, queue)
    return WorkerOptions(
        graceful_shutdown_timeout=settings.worker_graceful_shutdown,
        max_concurrent_activities=activities,
        max_concurrent_local_activities=activities,  # the notifications' sends are local
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
        workflow_task_poller_behavior=pollers,
        nonsticky_to_sticky_poll_ratio=nonsticky,
        activity_task_poller_behavior=pollers,
        build_id=None if version else build_id(settings),
        deployment_config=version,
        max_task_queue_activities_per_second=(
            settings.stripe_rate_per_second if queue == PAYMENTS_QUEUE else None
        ),
        interceptors=[AttentionInterceptor(settings.attention_after_failures)],
    )


class OwningWorker(Worker):
    """A `Worker` that owns what its activities hold open (database pools, SMTP sessions,
    HTTP clients) and closes it, in reverse order, once the worker has shut down: after its
    last activity has ended, never under one. A close that fails is logged; the others still
    run."""

    def __init__(self, client: Client, *, closing: Sequence[Closer] = (), **options: Any) -> None:
        super().__init__(client, **options)
        self._closing = list(closing)

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self.close_owned()

    async def close_owned(self) -> None:
        closing, self._closing = self._closing, []
        await close_all(closing)


async def close_all(closing: Sequence[Closer]) -> None:
    """Run every close, last opened first; a close that fails is logged, and the ones after
    it still run."""
    for close in reversed(closing):
        try:
            await close()
        except Exception as error:
            log.warning("worker_resource_not_closed", resource=repr(close), error=repr(error)[:200])


async def ensure_schedule(
    client: Client, schedule_id: str, action: ScheduleActionStartWorkflow, every: timedelta
) -> None:
    """The Schedule `schedule_id` exists once per namespace, whichever worker starts first;
    one that exists already is left as it is."""
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
    try:
        await client.create_schedule(schedule_id, Schedule(action=action, spec=spec))
    except ScheduleAlreadyRunningError:
        pass


WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


def compile_bytecode(folder: Path = WORKFLOWS) -> None:
    """Write the bytecode of the workflow modules in `folder` where it is missing.

    The sandbox imports a workflow's module afresh for every run it starts; without a .pyc
    (PYTHONDONTWRITEBYTECODE, as this machine and the image set) each of those imports
    compiles the source again, which profiling showed costs a worker about a tenth of its
    CPU. Best effort: where it cannot write (or a module does not compile) the worker runs
    as before, only slower; the image compiles at build."""
    if not compileall.compile_dir(folder, quiet=2):
        log.warning("workflow_bytecode_not_written", folder=str(folder))


async def connect_patiently(
    settings: Settings, *, runtime: Runtime | None = None, within: float = 60.0
) -> Client:
    """Connect to Temporal, retrying with backoff for `within` seconds: a worker started
    while the cluster is (re)starting waits for it instead of exiting at once (and then
    depending on a supervisor to start it again)."""
    loop = asyncio.get_running_loop()
    give_up, delay = loop.time() + within, 0.25
    while True:
        try:
            return await connect(settings, runtime=runtime)
        except RuntimeError as error:
            if not connect_failed(error) or loop.time() + delay > give_up:
                raise
            log.warning("temporal_unreachable", error=str(error)[:200], retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def serve(queue: str, build: WorkerFactory) -> None:
    """Connect, build the queue's worker, run it; stop gracefully on a signal."""
    settings = get_settings()
    configure_logging(settings, process=f"worker-{queue}")
    tracing.configure_tracing(settings, process=f"worker-{queue}")
    port: int = getattr(settings, f"{queue}_metrics_port", 0)
    sdk_metrics = f"127.0.0.1:{_free_port()}" if port else None
    runtime = (
        Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=sdk_metrics)))
        if sdk_metrics
        else None
    )
    compile_bytecode()
    client = await connect_patiently(settings, runtime=runtime)
    worker = await build(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = await _serve_health(port, worker, sdk_metrics) if port else None
    log.info(
        "worker_started",
        task_queue=queue,
        temporal=settings.temporal_address,
        port=port,
        build_id=build_id(settings),
        versioned=settings.worker_versioning,
    )
    try:
        async with worker:
            await stop.wait()
            log.info("worker_stopping", task_queue=queue)
    finally:
        if health is not None:
            health.close()
            await health.wait_closed()
    log.info("worker_stopped", task_queue=queue)


async def _serve_health(port: int, worker: Worker, sdk_metrics: str | None) -> asyncio.Server:
    """A tiny HTTP/1.0 server: `/healthz` (200 while the worker runs) and `/metrics`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            path = request.split(b" ")[1].decode() if request.count(b" ") >= 2 else ""
            if path.startswith("/healthz"):
                ok = worker.is_running and not worker.is_shutdown
                status, body, kind = (
                    (200 if ok else 503),
                    b"ok\n" if ok else b"stopping\n",
                    "text/plain",
                )
            elif path.startswith("/metrics"):
                status, body = 200, await _metrics_text(sdk_metrics)
                kind = "text/plain; version=0.0.4; charset=utf-8"
            else:
                status, body, kind = 404, b"not found\n", "text/plain"
            head = f"HTTP/1.0 {status} X\r\nContent-Type: {kind}\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, "0.0.0.0", port)


async def _metrics_text(sdk_metrics: str | None) -> bytes:
    """The engine's own metrics, then the SDK's (served by its runtime on loopback)."""
    text = generate_latest()
    if sdk_metrics:
        async with httpx.AsyncClient(timeout=3) as http:
            try:
                text += (await http.get(f"http://{sdk_metrics}/metrics")).content
            except httpx.HTTPError as error:
                log.warning("sdk_metrics_unavailable", error=type(error).__name__)
    return text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a worker process's main coroutine on uvloop (libuv), as uvicorn runs the API:
    the activities' sockets (PostgreSQL, SMTP, HTTP) cost less CPU than on the default
    loop."""
    uvloop.run(main)


def main(queue: str, build: WorkerFactory) -> None:
    run(serve(queue, build))
    # The SDK's Rust threads can outlive the loop and abort the interpreter's finalization
    # (exit 134 after a clean stop, temporalio/sdk-python#300): flush, then skip it.
    if provider := tracing.provider():
        provider.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
