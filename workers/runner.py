"""Runs one worker until SIGTERM or SIGINT, then lets in-flight tasks finish."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from adapters.logs import configure_logging
from adapters.settings import Settings, get_settings
from adapters.temporal import connect

log = structlog.get_logger()

WorkerFactory = Callable[[Client, Settings], Awaitable[Worker]]


async def serve(queue: str, build: WorkerFactory) -> None:
    """Connect, build the queue's worker, run it; stop gracefully on a signal."""
    settings = get_settings()
    configure_logging(settings, process=f"worker-{queue}")
    client = await connect(settings)
    worker = await build(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker_started", task_queue=queue, temporal=settings.temporal_address)
    async with worker:
        await stop.wait()
        log.info("worker_stopping", task_queue=queue)
    log.info("worker_stopped", task_queue=queue)


GRACEFUL_SHUTDOWN = timedelta(seconds=20)


def main(queue: str, build: WorkerFactory) -> None:
    asyncio.run(serve(queue, build))
