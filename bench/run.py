"""`make bench`: orders per second through the HTTP API, beside a same-shape no-op baseline.

    python -m bench.run [--orders 500] [--concurrency 20] [--rounds 2] [--warmup 10] [--workers 1]

One isolated stack (devstack/isolated.py's `start_stack`: Temporal dev server, localstripe,
SMTP sink, embedded PostgreSQL, the three workers and the API on free ports in a temporary
folder) also hosts the baseline: three no-op workers on their own queues and a bare HTTP
edge (bench/baseline_api.py), on the same Temporal server; `--workers N` runs N processes
per task queue on both sides. `--orders` per side are split over `--rounds`; the sides take
turns going first (baseline, engine, engine, baseline, ...) because every round leaves the
dev server's database larger and each later phase slower (measured: about a fifth from one
round to the next), so a fixed order would hand that drift to one side. An order's time runs
from its POST to its delivery answer; a phase's wall time also waits until every
notification workflow of its queue has finished. Each side's report ends with the CPU every
process of the stack spent per order during that side's phases (bench/cpu.py): the figure a
busy shared machine moves least. The last line is `ratio=<engine ÷ baseline orders/s>`, over
all rounds. Engine knobs (DATABASE_POOL_SIZE, WORKER_MAX_POLLERS,
LOG_LEVEL, ...) come from the environment and reach both sides where they apply (pollers,
slots and rate limits).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import astuple, dataclass
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.cpu import cpu_seconds, spent_between
from bench.load import Result, Target, drive, mean, percentile
from bench.shop import customer, operator
from devstack.apps import APPS
from devstack.isolated import API_READY_TIMEOUT, Stack, start_stack, stop_on_signals
from devstack.process import free_port
from devstack.ready import answers, wait_ready
from workflows.names import notifications_query, order_workflow_id

SKU = "BENCH-ITEM"
KINDS = ("orders", "payments", "notifications")
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def start_baseline(stack: Stack, workers: int) -> tuple[str, dict[str, str]]:
    """`workers` no-op worker processes per unique queue and the bare HTTP edge, stopped with
    the stack's own processes; returns the edge's URL, once it answers, and the queues."""
    suffix = uuid.uuid4().hex[:8]
    queues = {kind: f"bench-{kind}-{suffix}" for kind in KINDS}
    port = free_port()
    env = {
        **stack.env,
        **{f"BENCH_{kind.upper()}_QUEUE": queue for kind, queue in queues.items()},
        "BENCH_BASELINE_PORT": str(port),
    }
    started = [
        stack.start(f"baseline-{kind}-{n}", ["bench.baseline_workers", kind], env)
        for kind in KINDS
        for n in range(1, workers + 1)
    ]
    edge = stack.start("baseline-api", ["bench.baseline_api"], env)
    url = f"http://127.0.0.1:{port}"
    ready = answers(f"{url}/readyz")
    wait_ready(
        "the baseline API", ready, timeout=API_READY_TIMEOUT, watch=[*started, edge], log_of=edge
    )
    return url, queues


def start_more_workers(stack: Stack, workers: int) -> None:
    """Processes 2..`workers` of each engine queue beside the stack's first, on the same
    queue: Temporal spreads the queue's tasks over all of them."""
    for kind in KINDS:
        for n in range(2, workers + 1):
            stack.start(f"{kind}-{n}", [APPS[kind]], stack.env)


async def engine_target(url: str, customers: int) -> Target:
    """The operator's token, a product with plenty of stock, and `customers` customers."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        op = await operator(http)
        product = {
            "sku": SKU,
            "name": "Bench item",
            "description": "Stock enough for any bench run.",
            "price": {"amount": 400, "currency": "EUR"},
            "stock": 1_000_000,
        }
        created = await http.post("/v1/products", json=product, headers=op)
        if created.status_code not in (201, 409):
            raise RuntimeError(f"cannot create {SKU}: {created.status_code} {created.text}")

        headers = [await customer(http, "bench") for _ in range(customers)]
    return Target(url, headers, op, SKU)


async def _drained(client: Client, queue: str, timeout: float = 300) -> None:  # noqa: ASYNC109
    """Until no notification workflow of `queue` is running: emails are part of an order."""
    query = f'TaskQueue = "{queue}" AND ExecutionStatus = "Running"'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (await client.count_workflows(query)).count:
            return
        await asyncio.sleep(0.25)


def parts(stack: Stack) -> dict[str, int]:
    """Every process of the run by name (the bench's own driver as `driver`)."""
    every = {**stack.services, **stack.apps}
    return {name: service.pid for name, service in every.items()} | {"driver": os.getpid()}


async def measure(
    target: Target,
    client: Client,
    notifications: str,
    orders: int,
    concurrency: int,
    stack: Stack,
) -> Result:
    before = cpu_seconds(parts(stack))
    result = await drive(target, orders, concurrency)
    started = time.perf_counter()
    await _drained(client, notifications)
    result.wall += time.perf_counter() - started
    result.cpu = spent_between(before, cpu_seconds(parts(stack)))
    return result


@dataclass
class Shape:
    """What one order costs Temporal: counted from its history and its children's."""

    workflows: int = 1
    activities: int = 0
    local_activities: int = 0
    updates: int = 0
    workflow_tasks: int = 0
    events: int = 0
    history_bytes: int = 0

    def __add__(self, other: Shape) -> Shape:
        return Shape(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


async def order_shape(client: Client, order_id: str) -> Shape:
    """The shape of one order: its workflow and children, and the notifications its record
    steps started (not children: activities/notification_starts.py)."""
    seen: set[str] = set()
    found = await shape(client, order_workflow_id(order_id), seen)
    async for listed in client.list_workflows(notifications_query(order_id)):
        if listed.id not in seen:
            found = found + await shape(client, listed.id, seen)
    return found


async def shape(client: Client, workflow_id: str, seen: set[str]) -> Shape:
    """The shape of one workflow: its history plus its children's."""
    seen.add(workflow_id)
    found = Shape()
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        found.events += 1
        found.history_bytes += event.ByteSize()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found.activities += 1
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes.marker_name
            found.local_activities += marker == LOCAL_ACTIVITY_MARKER
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            found.workflow_tasks += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            found.updates += 1
        elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            child = event.child_workflow_execution_started_event_attributes
            found = found + await shape(client, child.workflow_execution.workflow_id, seen)
    return found


def schedule(orders: int, rounds: int) -> list[tuple[int, tuple[str, str]]]:
    """Orders per round and the sides' turns: baseline first, then engine first, and so on."""
    turns = (("baseline", "engine"), ("engine", "baseline"))
    return [(orders // rounds + (n < orders % rounds), turns[n % 2]) for n in range(rounds)]


def merge(results: list[Result]) -> Result:
    total = Result(sum(r.orders for r in results), sum(r.wall for r in results))
    for r in results:
        total.place += r.place
        total.end_to_end += r.end_to_end
        total.ids += r.ids
        total.reads += r.reads
        for name, values in r.steps.items():
            total.steps[name] += values
        for part, seconds in r.cpu.items():
            total.cpu[part] = total.cpu.get(part, 0.0) + seconds
    return total


def report(name: str, result: Result, shape_of: Shape) -> None:
    ms = 1000
    print(
        f"{name}: {result.orders} orders in {result.wall:.1f} s = {result.rate:.2f} orders/s "
        f"= {result.rate * shape_of.workflows:.1f} workflows/s"
    )
    print(
        f"  POST /v1/orders p50={percentile(result.place, 50) * ms:.0f} ms "
        f"p95={percentile(result.place, 95) * ms:.0f} ms "
        f"p99={percentile(result.place, 99) * ms:.0f} ms"
    )
    print(
        f"  end-to-end (placed -> delivered) p50={percentile(result.end_to_end, 50) * ms:.0f} ms "
        f"p99={percentile(result.end_to_end, 99) * ms:.0f} ms "
        f"mean={mean(result.end_to_end) * ms:.0f} ms"
    )
    steps = ", ".join(
        f"{step} {percentile(values, 50) * ms:.0f}" for step, values in result.steps.items()
    )
    print(f"  step p50 (ms): {steps}; status reads per order {result.reads / result.orders:.2f}")
    print(
        f"  per order: {shape_of.workflows} workflows, {shape_of.activities} activities, "
        f"{shape_of.local_activities} local activities, {shape_of.updates} updates, "
        f"{shape_of.workflow_tasks} workflow tasks, {shape_of.events} history events "
        f"({shape_of.history_bytes / 1024:.1f} KiB)"
    )
    print(f"  CPU per order (ms): {cpu_per_order(result)}")


def cpu_per_order(result: Result) -> str:
    """The run's CPU per order: all processes, then each that spent at least 1 ms."""
    per_order = {part: seconds * 1000 / result.orders for part, seconds in result.cpu.items()}
    shown = sorted(((ms, part) for part, ms in per_order.items() if ms >= 1), reverse=True)
    each = ", ".join(f"{part} {ms:.0f}" for ms, part in shown)
    return f"total {sum(per_order.values()):.0f}: {each}"


async def bench(orders: int, concurrency: int, rounds: int, warmup: int, workers: int) -> float:
    base = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    print(f"bench: starting the stack in {base}", flush=True)
    stack = start_stack(base)
    try:
        start_more_workers(stack, workers)
        baseline_url, queues = start_baseline(stack, workers)
        engine = await engine_target(stack.api, min(concurrency, orders))
        baseline = Target(baseline_url, engine.customers, engine.operator, SKU)
        client = await Client.connect(stack.env["TEMPORAL_ADDRESS"])
        sides = {
            "baseline": (baseline, queues["notifications"]),
            "engine": (engine, "notifications"),
        }
        for target, _ in sides.values():
            await drive(target, warmup, min(concurrency, warmup))
        print(
            f"bench: {orders} orders per side in {rounds} round(s) at concurrency {concurrency}, "
            f"{workers} worker process(es) per queue"
        )
        results: dict[str, list[Result]] = {name: [] for name in sides}
        for n, (count, turns) in enumerate(schedule(orders, rounds)):
            for name in turns:
                target, notifications = sides[name]
                run = await measure(target, client, notifications, count, concurrency, stack)
                results[name].append(run)
                print(f"bench: round {n + 1} {name} {run.rate:.2f} orders/s", flush=True)
        if dead := [name for name, app in stack.apps.items() if not app.running()]:
            raise RuntimeError(f"{', '.join(dead)} stopped during the run: figures unfair")
        totals = {name: merge(runs) for name, runs in results.items()}
        for name in ("engine", "baseline"):
            report(name, totals[name], await order_shape(client, totals[name].ids[-1]))
        return totals["engine"].rate / totals["baseline"].rate
    finally:
        stack.stop()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"bench: logs kept in {base}/logs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=2, help="the sides take turns going first; even is fair"
    )
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured orders per side")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes per task queue, on both sides"
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= args.orders:
        parser.error("--rounds must be between 1 and --orders")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    stop_on_signals()
    ratio = asyncio.run(
        bench(args.orders, args.concurrency, args.rounds, args.warmup, args.workers)
    )
    print(f"ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
