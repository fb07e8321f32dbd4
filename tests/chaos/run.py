"""`make chaos`: orders through the HTTP API while the engine's parts are killed and restarted;
then every order is checked against the ledger and the outside world ("nothing lost" in
docs/orders.md).

    python -m tests.chaos.run [--orders 200] [--full]

The reduced run (`make test`: about 30 orders, one SIGKILL of each worker) and the full one
(`make chaos`: also restarts Temporal and PostgreSQL and takes localstripe and the SMTP sink
away for 30 s) end with the line `lost=<n> double_captures=<n> duplicate_emails=<n>`.
Everything runs on free ports in a temporary folder; nothing of `make run` is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import stripe

from bench.shop import ADDRESS, customer, operator, retrying
from devstack.apps import APPS
from devstack.isolated import Stack, start_stack, stop_on_signals
from devstack.mailbox import read_mailbox

WORKERS = tuple(name for name in APPS if name != "api")


@dataclass
class Script:
    """What one order is meant to become."""

    order_id: str
    intent: str  # "delivered" or "cancelled"


async def _status(api: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> str:
    answer = await retrying(lambda: api.get(f"/v1/orders/{order_id}", headers=headers))
    return str(answer.json()["status"])


async def _drive(api: httpx.AsyncClient, op: dict[str, str], n: int, deadline: float) -> Script:
    """Place an order, wait for confirmation, then ship+deliver it or cancel it."""
    headers = await customer(api)
    key = str(uuid.uuid4())  # the shop retries with the same key: one order however often
    body = {
        "lines": [{"sku": "STICKER-PACK", "quantity": 1}],
        "shipping_address": ADDRESS,
        "payment_method": "pm_card_visa",
    }
    placed = await retrying(
        lambda: api.post("/v1/orders", json=body, headers={**headers, "Idempotency-Key": key})
    )
    order_id = str(placed.json()["id"])
    script = Script(order_id, "delivered" if n % 2 == 0 else "cancelled")
    while await _status(api, op, order_id) != "confirmed":
        if time.monotonic() > deadline:
            return script
        await asyncio.sleep(0.3)
    if script.intent == "delivered":
        await _command(
            api,
            op,
            f"/v1/orders/{order_id}/shipments",
            {"carrier": "DHL", "tracking_number": f"CH{n}"},
            "shipped",
        )
        await _command(api, op, f"/v1/orders/{order_id}/delivery", None, "delivered")
    else:
        await _command(
            api, headers, f"/v1/orders/{order_id}/cancel", {"reason": "chaos"}, "cancelled"
        )
    return script


async def _command(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    path: str,
    body: dict[str, str] | None,
    goal: str,
) -> None:
    """Send a command until the order shows its effect (a 409 after a lost answer is fine)."""
    order_id = path.split("/")[3]
    for _ in range(240):
        try:
            answer = await api.post(path, json=body or {}, headers=headers)
            if answer.status_code in (200, 409):
                if await _status(api, headers, order_id) == goal:
                    return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)


async def _chaos(stack: Stack, full: bool) -> None:
    """Each worker type SIGKILLed once and restarted; with `full`, the servers too."""
    for name in WORKERS:
        await asyncio.sleep(2)
        stack.kill(name)
        print(f"chaos: SIGKILL {name} worker", flush=True)
        await asyncio.sleep(1)
        stack.start_app(name)
    if not full:
        return
    await asyncio.sleep(2)
    stack.services["temporal"].stop()
    print("chaos: Temporal server stopped", flush=True)
    await asyncio.sleep(3)
    stack.start_temporal()
    print("chaos: Temporal server restarted", flush=True)
    await asyncio.sleep(2)
    stack.services["postgres"].stop()
    print("chaos: PostgreSQL stopped", flush=True)
    await asyncio.sleep(3)
    stack.start_postgres()
    print("chaos: PostgreSQL restarted", flush=True)
    localstripe = stack.services["localstripe"]
    localstripe.send(signal.SIGSTOP)  # down without losing its (in-memory) state
    print("chaos: localstripe frozen for 30 s", flush=True)
    await asyncio.sleep(30)
    localstripe.send(signal.SIGCONT)
    stack.services["smtp"].stop()
    print("chaos: SMTP sink stopped for 30 s", flush=True)
    await asyncio.sleep(30)
    stack.start_smtp()
    print("chaos: SMTP sink back", flush=True)


def _count(stack: Stack, scripts: list[Script], finals: dict[str, str]) -> dict[str, int]:
    client = stripe.StripeClient(
        "sk_test_local", base_addresses={"api": stack.env["STRIPE_API_BASE"]}
    )
    captures: collections.Counter[str] = collections.Counter()
    page = client.v1.payment_intents.list(params={"limit": 100})
    intents = list(page.data)
    while page.has_more:
        page = client.v1.payment_intents.list(
            params={"limit": 100, "starting_after": intents[-1].id}
        )
        intents.extend(page.data)
    for intent in intents:
        data = intent.to_dict()
        if data["status"] == "succeeded":
            captures[data["metadata"].get("order_id")] += 1
    emails: collections.Counter[tuple[str, str]] = collections.Counter()
    for message in read_mailbox(stack.mail_dir):
        emails[(str(message["To"]), str(message["Subject"]))] += 1
    astray = [s for s in scripts if finals.get(s.order_id) != s.intent]
    shipped = {s.order_id for s in scripts if s.intent == "delivered"}
    double = sum(1 for order_id, n in captures.items() if n > 1)
    uncaptured = [order_id for order_id in shipped if captures[order_id] == 0]
    for s in astray:  # so that a failure says which order and where it stopped
        print(f"chaos: order {s.order_id} is {finals.get(s.order_id)}, meant {s.intent}")
    for order_id in uncaptured:
        print(f"chaos: order {order_id} was shipped without a capture in Stripe")
    lost, missing_capture = len(astray), len(uncaptured)
    return {
        "lost": lost + missing_capture,
        "double_captures": double,
        "duplicate_emails": sum(n - 1 for n in emails.values() if n > 1),
    }


async def run(orders: int, full: bool, concurrency: int = 10) -> dict[str, int]:
    base = Path(tempfile.mkdtemp(prefix="engine-chaos-"))
    failed = True  # until the count says otherwise: an exception keeps the logs too
    stack = start_stack(base)
    try:
        async with httpx.AsyncClient(base_url=stack.api, timeout=60) as api:
            op = await operator(api)
            deadline = time.monotonic() + (600 if full else 240)
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int) -> Script:
                async with gate:
                    return await _drive(api, op, n, deadline)

            chaos = asyncio.create_task(_chaos(stack, full))
            scripts = await asyncio.gather(*[one(n) for n in range(orders)])
            await chaos
            finals = {s.order_id: await _status(api, op, s.order_id) for s in scripts}
            await asyncio.sleep(3)  # the last notifications
            deadline_mail = time.monotonic() + 60
            while time.monotonic() < deadline_mail:
                expected = sum(4 if s.intent == "delivered" else 3 for s in scripts)
                if len(read_mailbox(stack.mail_dir)) >= expected:
                    break
                await asyncio.sleep(1)
            result = _count(stack, scripts, finals)
            failed = any(result.values())
            return result
    finally:
        stack.stop()
        if os.environ.get("CHAOS_KEEP") is None and not failed:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"chaos: logs kept in {base}/logs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    stop_on_signals()
    result = asyncio.run(run(args.orders, args.full))
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    raise SystemExit(0 if not any(result.values()) else 1)


if __name__ == "__main__":
    main()
