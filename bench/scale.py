"""`python -m bench.scale`: GET /v1/orders latency with 1,000 and 100,000 orders in the read
model (keyset pages and indexes must keep it flat), on an isolated stack.

Orders are inserted straight into the read model (the workflows are not what is measured
here); each size is timed for the customer's first page, the operator's first page, the
operator's status filter and a page 50 cursors deep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.db import async_url
from bench.load import percentile
from devstack.isolated import OPERATOR_PASSWORD, start_stack, stop_on_signals

LINES = json.dumps(
    [{"sku": "MUG-LOGO", "name": "Logo mug", "quantity": 1, "unit_price": 1200, "total": 1200}]
)
ADDRESS = json.dumps(
    {
        "name": "A",
        "line1": "1 Main St",
        "line2": None,
        "city": "London",
        "postal_code": "N1",
        "country": "GB",
    }
)
FILL = text("""
INSERT INTO orders (id, customer_id, status, currency, total, lines, shipping_address,
                    payment_status, version, created_at, updated_at)
SELECT 'ord_scale_' || lpad(n::text, 9, '0'),
       CASE WHEN n % 100 = 0 THEN :customer ELSE :other END,
       (ARRAY['confirmed','shipped','delivered','cancelled'])[1 + n % 4], 'EUR', 1200,
       CAST(:lines AS jsonb), CAST(:address AS jsonb),
       'authorized', 1, now() - n * interval '1 second', now()
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS n
""")


async def _user(api: httpx.AsyncClient, email: str, password: str) -> str:
    await api.post("/v1/auth/register", json={"email": email, "password": password, "name": "S"})
    token = (await api.post("/v1/auth/token", json={"email": email, "password": password})).json()[
        "access_token"
    ]
    me = await api.get("/v1/orders?limit=1", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    return str(token)


async def _time(api: httpx.AsyncClient, path: str, token: str, n: int) -> list[float]:
    took = []
    for _ in range(n):
        start = time.perf_counter()
        answer = await api.get(path, headers={"Authorization": f"Bearer {token}"})
        took.append(time.perf_counter() - start)
        assert answer.status_code == 200, answer.text
    return took


async def _deep_cursor(api: httpx.AsyncClient, token: str, pages: int) -> str:
    cursor = ""
    for _ in range(pages):
        page = (
            await api.get(
                f"/v1/orders?limit=100{cursor}", headers={"Authorization": f"Bearer {token}"}
            )
        ).json()
        cursor = f"&cursor={page['next_cursor']}"
    return cursor


async def measure(sizes: list[int], requests: int) -> list[str]:
    base = Path(tempfile.mkdtemp(prefix="engine-scale-"))
    stack = start_stack(base)
    lines = []
    try:
        engine = create_async_engine(async_url(stack.env["DATABASE_URL"]))
        async with httpx.AsyncClient(base_url=stack.api, timeout=60) as api:
            customer = await _user(
                api, f"scale-{uuid.uuid4().hex[:6]}@example.com", "scale password 1"
            )
            await _user(api, f"other-{uuid.uuid4().hex[:6]}@example.com", "scale password 2")
            operator = (
                await api.post(
                    "/v1/auth/token",
                    json={"email": "operator@example.com", "password": OPERATOR_PASSWORD},
                )
            ).json()["access_token"]
            async with engine.begin() as conn:
                rows = (
                    await conn.execute(
                        text("SELECT id FROM users WHERE role = 'customer' ORDER BY created_at")
                    )
                ).all()
                customer_id, other_id = rows[-2][0], rows[-1][0]
            filled = 0
            for size in sizes:
                async with engine.begin() as conn:
                    await conn.execute(
                        FILL,
                        {
                            "customer": customer_id,
                            "other": other_id,
                            "start": filled + 1,
                            "stop": size,
                            "lines": LINES,
                            "address": ADDRESS,
                        },
                    )
                    await conn.execute(text("ANALYZE orders"))
                filled = size
                deep = await _deep_cursor(api, operator, min(50, size // 100 - 1))
                for label, path, token in (
                    ("customer first page", "/v1/orders", customer),
                    ("operator first page", "/v1/orders", operator),
                    ("operator status=shipped", "/v1/orders?status=shipped", operator),
                    ("operator page 50 deep", f"/v1/orders?limit=100{deep}", operator),
                ):
                    took = await _time(api, path, token, requests)
                    lines.append(
                        f"| {size:,} | {label} | {percentile(took, 50) * 1000:.1f} ms "
                        f"| {percentile(took, 99) * 1000:.1f} ms |"
                    )
                    print(lines[-1], flush=True)
        await engine.dispose()
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print("| orders in the read model | request | p50 | p99 |\n|---|---|---|---|")
    stop_on_signals()
    asyncio.run(measure([int(s) for s in args.sizes.split(",")], args.requests))


if __name__ == "__main__":
    main()
