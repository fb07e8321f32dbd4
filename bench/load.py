"""The load driver: N orders through an HTTP API at concurrency C, each placed, waited for
until confirmed (`GET ...?wait_for=`, docs/orders.md), shipped and delivered, with the
latencies a shop would see.

The same code drives the engine and the baseline; only the base URL and headers differ.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import httpx

from bench.shop import ADDRESS

WAIT = 30
"""Seconds one status read may wait for the payment (the API's most); read again after."""
WAIT_FOR = "confirmed,payment_action_required,under_review,payment_failed,cancelled"
"""Confirmed, or any status that ends the happy path (the load fails on those)."""


@dataclass
class Target:
    """An API to drive: its address, one header set per customer, and the operator's."""

    url: str
    customers: list[dict[str, str]]
    operator: dict[str, str]
    sku: str


@dataclass
class Result:
    """What one load run measured (seconds)."""

    orders: int
    wall: float = 0.0
    place: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    reads: int = 0
    """Status reads (GETs) while orders waited for `confirmed`."""
    steps: dict[str, list[float]] = field(
        default_factory=lambda: {"place": [], "confirm": [], "ship": [], "deliver": []}
    )
    """Where an order's time goes: POST, waiting for `confirmed`, shipping, delivery."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process of the stack spent during the run (bench/cpu.py)."""

    @property
    def rate(self) -> float:
        return self.orders / self.wall if self.wall else 0.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(p / 100 * len(ranked)) - 1))]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


class LoadError(RuntimeError):
    """An answer the happy path never gives."""


def _expect(answer: httpx.Response, *codes: int) -> dict[str, object]:
    if answer.status_code not in codes:
        request = answer.request
        raise LoadError(
            f"{request.method} {request.url.path}: {answer.status_code} {answer.text[:300]}"
        )
    body: dict[str, object] = answer.json()
    return body


async def _get(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], params: dict[str, str | int]
) -> httpx.Response:
    """A GET, tried again once when the connection drops: a pooled keep-alive connection
    can be closed by the server (uvicorn, after 5 s idle) just as it is reused, as any
    HTTP client sees now and then. Only reads are retried; a POST never is."""
    try:
        return await http.get(path, headers=headers, params=params)
    except httpx.TransportError:
        return await http.get(path, headers=headers, params=params)


async def one_order(http: httpx.AsyncClient, target: Target, n: int, result: Result) -> None:
    """Place, wait for `confirmed`, ship, deliver; record POST and end-to-end latency."""
    customer = target.customers[n % len(target.customers)]
    body = {
        "lines": [{"sku": target.sku, "quantity": 1}],
        "shipping_address": ADDRESS,
        "payment_method": "pm_card_visa",
    }
    started = time.perf_counter()
    placed = _expect(await http.post("/v1/orders", json=body, headers=customer), 201)
    result.place.append(time.perf_counter() - started)
    result.ids.append(str(placed["id"]))
    mark = started

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        result.steps[name].append(now - mark)
        mark = now

    step("place")
    order = f"/v1/orders/{placed['id']}"
    status = placed["status"]
    wait: dict[str, str | int] = {"wait_for": WAIT_FOR, "timeout": WAIT}
    while status != "confirmed":
        if status not in ("accepted", "pending", None):
            raise LoadError(f"{order} became {status}")
        result.reads += 1
        status = _expect(await _get(http, order, target.operator, wait), 200)["status"]
    step("confirm")
    shipment = {"carrier": "DHL", "tracking_number": f"BENCH{n}"}
    shipped = await http.post(f"{order}/shipments", json=shipment, headers=target.operator)
    if _expect(shipped, 200)["status"] != "shipped":
        raise LoadError(f"{order} did not ship: {shipped.text[:300]}")
    step("ship")
    delivered = await http.post(f"{order}/delivery", headers=target.operator)
    if _expect(delivered, 200)["status"] != "delivered":
        raise LoadError(f"{order} was not delivered: {delivered.text[:300]}")
    step("deliver")
    result.end_to_end.append(time.perf_counter() - started)


async def drive(target: Target, orders: int, concurrency: int) -> Result:
    """Run `orders` orders with at most `concurrency` in flight; wall time covers them all."""
    result = Result(orders)
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(
        max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2
    )

    async with httpx.AsyncClient(base_url=target.url, timeout=120, limits=limits) as http:

        async def guarded(n: int) -> None:
            async with gate:
                await one_order(http, target, n, result)

        started = time.perf_counter()
        await asyncio.gather(*(guarded(n) for n in range(orders)))
        result.wall = time.perf_counter() - started
    return result
