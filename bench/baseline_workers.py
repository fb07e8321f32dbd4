"""`python -m bench.baseline_workers orders|payments|notifications`: one no-op worker.

One process per queue, like the engine's workers, built with the same client, data converter
and `worker_options` (so WORKER_MAX_POLLERS and friends, the payments queue's rate
limit and the worker version, apply to both sides). The queue
names come from BENCH_ORDERS_QUEUE, BENCH_PAYMENTS_QUEUE and BENCH_NOTIFICATIONS_QUEUE.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from temporalio.worker import Worker

from adapters.settings import get_settings
from adapters.temporal import connect
from bench.baseline import (
    BaselineNotificationWorkflow,
    BaselineOrderWorkflow,
    BaselinePaymentWorkflow,
    NoOpActivities,
)
from workers.runner import compile_bytecode, run, worker_options
from workers.versioning import make_current_if_none

SHAPE = {
    "orders": (
        BaselineOrderWorkflow,
        ["reserve_stock", "record_order", "start_notifications", "commit_stock"],
    ),
    "payments": (BaselinePaymentWorkflow, ["authorize_payment", "capture_payment"]),
    "notifications": (BaselineNotificationWorkflow, ["send_email"]),
}


async def serve(kind: str) -> None:
    compile_bytecode(Path(__file__).parent)  # the baseline's workflows, as the engine's
    settings = get_settings()
    client = await connect(settings)
    await make_current_if_none(client, settings)  # as the engine's workers
    workflow, names = SHAPE[kind]
    acts = NoOpActivities()
    worker = Worker(
        client,
        task_queue=os.environ[f"BENCH_{kind.upper()}_QUEUE"],
        workflows=[workflow],
        activities=[getattr(acts, name) for name in names],
        **worker_options(settings, kind),
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    run(serve(sys.argv[1]))
