"""`python -m bench.replay`: how fast the replay gate (`make replay SAMPLE=...`) checks
recorded orders, in histories per second (docs/performance.md, "The replay gate").

    python -m bench.replay [--orders 200] [--concurrency 20]

An isolated stack (devstack/isolated.py's `start_stack`, as `make bench`) with a payload key,
so the histories are encrypted as in production; `--orders` orders placed, shipped and
delivered over HTTP (bench/load.py). Then the gate's sample of exactly those orders runs
twice in this process: as `make replay` runs it (the visibility list, each order's histories
read a few at a time while earlier ones replay, all decrypted), and replay alone over the
histories already read, which is the part that grows with the workflow code.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from adapters.settings import Settings
from adapters.temporal import connect
from bench.load import drive
from bench.run import engine_target
from devstack.isolated import start_stack, stop_on_signals
from workers.replay import Order, Report, decryptable, replay, replayer, sample


async def _each(orders: list[Order]) -> AsyncIterator[Order]:
    for order in orders:
        yield order


def _line(name: str, report: Report, events: int) -> str:
    rate = report.histories / report.seconds
    return (
        f"replay: {name}: {report.histories} histories ({events} events) of "
        f"{len(report.orders)} orders in {report.seconds:.2f} s: {rate:.1f} histories/s, "
        f"{len(report.orders) / report.seconds:.1f} orders/s, {len(report.divergences)} diverge"
    )


async def bench(orders: int, concurrency: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="engine-bench-replay-"))
    key = base64.b64encode(os.urandom(32)).decode()
    print(f"replay: starting the stack in {base}", flush=True)
    stack = start_stack(base, {"PAYLOAD_ENCRYPTION_KEY": key})
    try:
        target = await engine_target(stack.api, min(concurrency, orders))
        placed = await drive(target, orders, concurrency)
        print(f"replay: {orders} orders delivered in {placed.wall:.1f} s", flush=True)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            temporal_address=stack.env["TEMPORAL_ADDRESS"],
            payload_encryption_key=SecretStr(key),
        )
        client = await connect(settings)
        since = timedelta(hours=1)

        gate = await replay(
            replayer(settings), decryptable(sample(client, orders, since), settings)
        )
        read = [order async for order in sample(client, orders, since)]
        events = sum(len(run.history.events) for _, runs in read for run in runs)
        print(_line("the gate (read and replay)", gate, events))
        alone = await replay(replayer(settings), _each(read))
        print(_line("replay alone", alone, events))
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    stop_on_signals()
    started = time.perf_counter()
    asyncio.run(bench(args.orders, args.concurrency))
    print(f"replay: whole run {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
