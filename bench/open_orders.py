"""`python -m bench.open_orders [--orders 10000]`: many orders waiting at once (under review),
with the orders worker's resident memory measured as they accumulate.

Workflows that wait cost the worker only while they sit in its sticky cache
(`WORKER_MAX_CACHED_WORKFLOWS` per process, read from the environment like every setting);
the rest live in Temporal's history, so memory should level off however many orders wait.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

from bench.shop import ADDRESS, customer, operator, retrying
from devstack.isolated import start_stack, stop_on_signals

SKU = "REVIEW-ITEM"


async def run(orders: int, concurrency: int) -> list[str]:
    base = Path(tempfile.mkdtemp(prefix="engine-open-orders-"))
    stack = start_stack(base)
    lines: list[str] = []
    try:
        worker = psutil.Process(stack.apps["orders"].pid)
        async with httpx.AsyncClient(base_url=stack.api, timeout=120) as api:
            op = await operator(api)
            await api.post(
                "/v1/products",
                headers=op,
                json={
                    "sku": SKU,
                    "name": "Reviewed item",
                    "stock": 1_000_000,
                    "price": {"amount": 150_000, "currency": "EUR"},
                },
            )
            headers = await customer(api, "open")
            body = {
                "lines": [{"sku": SKU, "quantity": 1}],
                "shipping_address": ADDRESS,
                "payment_method": "pm_card_visa",
            }
            gate = asyncio.Semaphore(concurrency)
            placed = 0
            started = time.monotonic()

            async def one() -> None:
                nonlocal placed
                # a 503 under load is retried with the same key: never placed twice
                keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
                async with gate:
                    answer = await retrying(
                        lambda: api.post("/v1/orders", json=body, headers=keyed)
                    )
                    assert answer.status_code in (200, 201), answer.text  # 200: a retry's
                    placed += 1

            checkpoints = sorted({orders // 10, orders // 4, orders // 2, orders})
            done = 0
            lines.append(f"| 0 | {worker.memory_info().rss / 2**20:.0f} MiB |")
            print(lines[-1], flush=True)
            for checkpoint in checkpoints:
                await asyncio.gather(*[one() for _ in range(checkpoint - done)])
                done = checkpoint
                for _ in range(600):  # until no placed order is still being authorized
                    pending = await retrying(
                        lambda: api.get("/v1/orders?status=accepted&limit=1", headers=op)
                    )
                    if not pending.json()["items"]:
                        break
                    await asyncio.sleep(1)
                await asyncio.sleep(5)
                lines.append(f"| {done:,} | {worker.memory_info().rss / 2**20:.0f} MiB |")
                print(lines[-1], f"({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    print("| orders waiting under review | orders worker RSS |\n|---|---|")
    stop_on_signals()
    asyncio.run(run(args.orders, args.concurrency))


if __name__ == "__main__":
    main()
