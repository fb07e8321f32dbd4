"""`python -m tests.workflow.cached_orders [--orders 100]`: what each cached order costs a
worker's memory, and which parts of it are the workflow's own state.

In one process (the three queues' workers with in-memory activity doubles on the
time-skipping test server, tests/workflow/harness.py) it places `--orders` orders that wait
under review, all kept in the sticky cache, and prints the Python heap they added per
order by source file (tracemalloc) and the deep size of each OrderWorkflow attribute.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from collections import Counter
from typing import Any

import psutil
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import BIN, register_search_attributes
from tests.workflow.fakes import Fakes
from tests.workflow.harness import running, wait_status
from workflows.order import OrderWorkflow

SHARED = (type, type(sys), type(len), type(lambda: 0))
"""Classes, modules and functions: shared by every workflow, not counted in its size."""
KIB = 1024


def deep_size(obj: Any, seen: set[int]) -> int:
    """Bytes of `obj` and everything it holds that `seen` does not hold yet."""
    if id(obj) in seen or isinstance(obj, SHARED):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        size += sum(deep_size(x, seen) for x in obj)
    else:
        if (attrs := getattr(obj, "__dict__", None)) is not None:
            size += deep_size(attrs, seen)
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                size += deep_size(getattr(obj, slot), seen)
    return size


async def measure(orders: int) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await register_search_attributes(env.client)
    fakes = Fakes()
    fakes.stock["MACHINE"] = 10**6
    process = psutil.Process()
    async with running(env, fakes) as harness:
        for _ in range(5):  # the first orders import and compile what every later one shares
            handle, _ = await harness.place({"MACHINE": 1})
            await wait_status(handle, "under_review")
        gc.collect()
        tracemalloc.start()
        rss, before = process.memory_info().rss, tracemalloc.take_snapshot()
        handles = [(await harness.place({"MACHINE": 1}))[0] for _ in range(orders)]
        for handle in handles:
            await wait_status(handle, "under_review")
        gc.collect()
        added = tracemalloc.take_snapshot().compare_to(before, "filename")
        grown = process.memory_info().rss - rss
        tracemalloc.stop()
        traced = sum(d.size_diff for d in added)
        print(
            f"{orders} orders under review (each an OrderWorkflow and a PaymentWorkflow cached): "
            f"Python heap +{traced / orders / KIB:.0f} KiB per order, "
            f"process RSS +{grown / orders / KIB:.0f} KiB per order"
        )
        for diff in added[:12]:
            print(f"  {diff.size_diff / orders / KIB:6.1f} KiB  {diff.traceback[0].filename}")
        # the sandbox imports workflows/order.py afresh for each run: match the class by name
        cached = [o for o in gc.get_objects() if type(o).__name__ == OrderWorkflow.__name__]
        own: Counter[str] = Counter()
        for workflow in cached:
            for name, value in vars(workflow).items():
                own[name] += deep_size(value, set())
        print(f"the OrderWorkflow's own attributes (deep, mean of {len(cached)}):")
        for name, size in own.most_common(6):
            print(f"  {size / len(cached) / KIB:6.1f} KiB  {name}")
    await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100)
    asyncio.run(measure(parser.parse_args().orders))


if __name__ == "__main__":
    main()
