"""`make bench-export`: GET /v1/orders/export over 100,000 orders, in rows per second and the
API process's resident memory (RSS) growth, which must stay under 50 MiB.

    python -m bench.export [--orders 100000] [--exports 2] [--max-growth-mib 50]

An isolated stack (devstack/isolated.py's `start_stack`, as `make bench`, without the
workers: the API is a real uvicorn process) with its own embedded PostgreSQL; customers and
orders (1 to 3 lines each) are inserted straight into the read model, as bench/scale.py
does, since the workflows are not what is measured. Each export is streamed with httpx and
its rows counted as they come; the API's RSS is read before, every 50 ms while the CSV
streams (the peak), and after. The run exits 1 when an export's rows are not every line of
every order, or when the peak grew by `--max-growth-mib` or more over the RSS before the
first export.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.db import async_url
from bench.shop import operator
from devstack.isolated import Stack, start_stack, stop_on_signals

MiB = 2**20
CUSTOMERS = 1_000

USERS = text("""
INSERT INTO users (id, email, name, password_hash, role)
SELECT 'usr_export_' || lpad(n::text, 6, '0'), 'export-' || n || '@example.com',
       'Export customer ' || n, 'not-a-login', 'customer'
FROM generate_series(1, :customers) AS n
""")

ORDERS = text("""
INSERT INTO orders (id, customer_id, status, currency, total, lines, shipping_address,
                    payment_status, authorized, captured, version, created_at, updated_at)
SELECT 'ord_export_' || lpad(n::text, 9, '0'),
       'usr_export_' || lpad((1 + n % :customers)::text, 6, '0'),
       (ARRAY['confirmed','partially_shipped','shipped','delivered','cancelled'])[1 + n % 5],
       'EUR', lines.total, lines.lines,
       jsonb_build_object('name', 'Customer ' || n, 'line1', n || ' Main St', 'line2', NULL,
                          'city', 'London', 'postal_code', 'N' || (n % 20) || ' 1AA',
                          'country', 'GB'),
       'authorized', lines.total, 0, 1,
       TIMESTAMPTZ '2026-01-01' + n * INTERVAL '1 second', now()
FROM generate_series(1, :orders) AS n
CROSS JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'sku', 'SKU-' || (n + k) % 500, 'name', 'Product ' || (n + k) % 500,
               'quantity', 1 + k, 'unit_price', 1000 + (n + k) % 500 * 10,
               'total', (1 + k) * (1000 + (n + k) % 500 * 10), 'shipped', 0, 'returned', 0)
               ORDER BY k) AS lines,
           sum((1 + k) * (1000 + (n + k) % 500 * 10)) AS total
    FROM generate_series(0, n % 3) AS k
) AS lines
""")
"""Order n has 1 + n % 3 lines, so 100,000 orders are 199,999 rows (and a header)."""


def expected_rows(orders: int) -> int:
    return sum(1 + n % 3 for n in range(1, orders + 1))


async def seed(database_url: str, orders: int) -> None:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(USERS, {"customers": CUSTOMERS})
            await conn.execute(ORDERS, {"customers": CUSTOMERS, "orders": orders})
        async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            await conn.execute(text("VACUUM ANALYZE orders"))
    finally:
        await engine.dispose()


@dataclass
class Export:
    rows: int
    seconds: float
    megabytes: float
    rss_before: int
    rss_peak: int
    rss_after: int

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


async def export(
    api: httpx.AsyncClient, headers: dict[str, str], process: psutil.Process
) -> Export:
    """One full export, streamed; the API's RSS sampled while it runs."""
    before = process.memory_info().rss
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    lines = size = 0
    started = time.perf_counter()
    async with api.stream("GET", "/v1/orders/export", headers=headers) as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"export answered {answer.status_code}: {await answer.aread()!r}")
        async for chunk in answer.aiter_raw():
            lines += chunk.count(b"\n")  # the seeded text has no line breaks of its own
            size += len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    await sampler
    after = process.memory_info().rss
    peak = max(peak, after)
    return Export(lines - 1, seconds, size / 1e6, before, peak, after)


async def run(orders: int, exports: int, max_growth: int) -> bool:
    base = Path(tempfile.mkdtemp(prefix="engine-bench-export-"))
    print(f"bench-export: starting the stack in {base}", flush=True)
    try:
        stack = start_stack(base, apps=["api"])  # the workers have no part in an export
        try:
            return await measure(stack, orders, exports, max_growth)
        finally:
            stack.stop()
    finally:  # also when the stack did not start
        shutil.rmtree(base, ignore_errors=True)


async def measure(stack: Stack, orders: int, exports: int, max_growth: int) -> bool:
    """Seed, export `exports` times, print each; False when one failed its checks."""
    ok = True
    started = time.perf_counter()
    await seed(stack.env["DATABASE_URL"], orders)
    print(f"bench-export: {orders:,} orders seeded in {time.perf_counter() - started:.1f} s")
    process = psutil.Process(stack.apps["api"].pid)
    async with httpx.AsyncClient(base_url=stack.api, timeout=120) as api:
        headers = await operator(api)
        # one export of nothing first: the route's code and the pool's connection are
        # then part of the baseline, not of the growth
        empty = await api.get("/v1/orders/export?created_to=1970-01-01", headers=headers)
        if empty.status_code != 200:
            raise RuntimeError(f"export answered {empty.status_code}: {empty.text}")
        baseline = process.memory_info().rss
        want = expected_rows(orders)
        for n in range(1, exports + 1):
            result = await export(api, headers, process)
            growth = (result.rss_peak - baseline) / MiB
            print(
                f"export {n}: {result.rows:,} rows ({result.megabytes:.1f} MB) in "
                f"{result.seconds:.1f} s = {result.rate:,.0f} rows/s; API RSS "
                f"{baseline / MiB:.1f} MiB before the first, {result.rss_before / MiB:.1f} "
                f"before this one, peak {result.rss_peak / MiB:.1f}, after "
                f"{result.rss_after / MiB:.1f}: growth {growth:+.1f} MiB",
                flush=True,
            )
            if result.rows != want:
                print(f"bench-export: FAILED: {result.rows:,} rows, expected {want:,}")
                ok = False
            if growth >= max_growth:
                print(f"bench-export: FAILED: RSS grew {growth:.1f} MiB (limit {max_growth})")
                ok = False
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--exports", type=int, default=2, help="full exports, one after another")
    parser.add_argument("--max-growth-mib", type=int, default=50)
    args = parser.parse_args()
    stop_on_signals()
    if not asyncio.run(run(args.orders, args.exports, args.max_growth_mib)):
        sys.exit(1)


if __name__ == "__main__":
    main()
