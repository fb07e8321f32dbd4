"""`make chaos`: orders through the HTTP API while the engine's parts are killed and restarted;
then every order is checked against the ledger, the stock and the outside world ("nothing
lost" and "never stuck" in docs/orders.md).

    python -m tests.chaos.run [--orders 200] [--full]

The orders are of six kinds in turn (tests/chaos/shop.py): delivered in one shipment,
cancelled, shipped in two shipments each delivered on its own, edited before shipment with a
return received (restocked or not) or rejected, and returned whole. The reduced run (`make
test`: 30 orders, one SIGKILL of each worker) and the full one (`make chaos`: also restarts
Temporal and PostgreSQL and takes localstripe and the SMTP sink away for 30 s) end with the
line `lost=<n> double_captures=<n> refunded_over_captured=<n> stock_mismatches=<n> stuck=<n>
duplicate_emails=<n> unsent_emails=<n> duplicate_webhooks=<n> unsent_webhooks=<n>`
(tests/chaos/counts.py says what each counts). Every event also goes to a merchant's
webhook receiver (tests/chaos/merchant.py), which refuses each event's first attempt, so
deliveries are in flight when the notifications worker is killed.
Everything runs on free ports in a temporary folder; nothing of `make run` is touched, and
an engine process that exits is started again, as a deployment's supervisor would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx

from bench.shop import operator, retrying
from devstack.apps import APPS
from devstack.isolated import Stack, start_stack, stop_on_signals
from tests.chaos import counts
from tests.chaos.merchant import Merchant
from tests.chaos.shop import OTHERS, STICKERS, Order, Script, Shop

WORKERS = tuple(name for name in APPS if name != "api")
TOP_UP = 10
"""Units added per order to each sku the run uses, so that any number of orders fits."""
MAIL_WAIT = 120
"""Seconds the run waits at most, once its orders are done, for their last emails and
webhooks to be taken and logged sent (a retry after the SMTP sink's outage backs off to about
a minute; one after a killed attempt waits for its 35 s lease)."""


async def _chaos(stack: Stack, full: bool, killed: set[str], kills: dict[str, float]) -> None:
    """Each worker type SIGKILLed once (when: `kills`, Unix time) and restarted; with `full`,
    the servers too."""
    for name in WORKERS:
        await asyncio.sleep(2)
        killed.add(name)
        kills[name] = time.time()
        stack.kill(name)
        print(f"chaos: SIGKILL {name} worker", flush=True)
        await asyncio.sleep(1)
        stack.start_app(name)
        killed.discard(name)
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


async def _supervise(stack: Stack, killed: set[str]) -> None:
    """Start again any engine process that exited, as its supervisor would in a deployment
    (docker-compose's `restart: unless-stopped`): a worker started while Temporal is down
    exits at once, and the run would go on without it."""
    while True:
        await asyncio.sleep(1)
        for name, app in list(stack.apps.items()):
            if name not in killed and not app.running():
                print(f"chaos: {name} exited ({app.returncode}), started again", flush=True)
                stack.start_app(name)


async def _top_up(api: httpx.AsyncClient, op: dict[str, str], orders: int) -> None:
    """Enough stock for the run's orders (the seeded catalogue is small)."""
    for sku in (STICKERS, *OTHERS):
        body = {"delta": TOP_UP * orders}
        await retrying(partial(api.post, f"/v1/products/{sku}/stock", json=body, headers=op))


async def _count(
    stack: Stack,
    shop: Shop,
    scripts: list[Script],
    start: counts.Stock,
    told: list[tuple[str, str, int]],
    merchant: Merchant,
    kills: dict[str, float],
) -> dict[str, int]:
    database = stack.env["DATABASE_URL"]
    ids = [s.order_id for s in scripts]
    orders: dict[str, Order | None] = {order_id: await shop.order(order_id) for order_id in ids}
    rows, moved = await counts.ledger(database, ids)
    paid = counts.payments(stack.env["STRIPE_API_BASE"], scripts, rows)
    sender_killed = [kills[name] for name in ("notifications",) if name in kills]
    duplicates, unsent = counts.duplicate_emails(stack.mail_dir, told, sender_killed)
    hooks = counts.webhook_events(told)
    log = await counts.webhook_log(database, list(hooks))
    lost_answers = await counts.webhook_lost_answers(database, list(hooks))
    duplicate_hooks, unsent_hooks = counts.webhooks(merchant.received, hooks, log, lost_answers)
    for refused in merchant.refused:
        counts.say(f"the merchant refused a request: {refused}")
    return {
        "lost": len(counts.lost(scripts, orders)) + paid["uncaptured"],
        "double_captures": paid["double_captures"],
        "refunded_over_captured": paid["refunded_over_captured"],
        "stock_mismatches": counts.stock_mismatches(
            start, await counts.stock(database), scripts, rows, moved
        ),
        "stuck": await counts.stuck(f"127.0.0.1:{stack.temporal_port}", orders),
        "duplicate_emails": duplicates,
        "unsent_emails": unsent,
        "duplicate_webhooks": duplicate_hooks,
        "unsent_webhooks": unsent_hooks + len(merchant.refused),
    }


async def run(orders: int, full: bool, concurrency: int = 10) -> dict[str, int]:
    base = Path(tempfile.mkdtemp(prefix="engine-chaos-"))
    failed = True  # until the count says otherwise: an exception keeps the logs too
    supervisor: asyncio.Task[None] | None = None
    merchant = Merchant()
    await merchant.start()
    try:
        stack = start_stack(base, merchant.env)
    except BaseException:
        await merchant.stop()
        raise
    try:
        async with httpx.AsyncClient(base_url=stack.api, timeout=60) as api:
            op = await operator(api)
            await _top_up(api, op, orders)
            start = await counts.stock(stack.env["DATABASE_URL"])
            shop = Shop(api, op, time.monotonic() + (600 if full else 240))
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int) -> Script:
                async with gate:
                    return await shop.drive(n)

            killed: set[str] = set()
            kills: dict[str, float] = {}
            supervisor = asyncio.create_task(_supervise(stack, killed))
            chaos = asyncio.create_task(_chaos(stack, full, killed, kills))
            scripts = await asyncio.gather(*[one(n) for n in range(orders)])
            await chaos
            told = counts.told({s.order_id: await shop.timeline(s.order_id) for s in scripts})
            deadline_mail = time.monotonic() + MAIL_WAIT
            hooks = counts.webhook_events(told)
            database = stack.env["DATABASE_URL"]
            while time.monotonic() < deadline_mail:  # the last notifications, retried
                log = await counts.webhook_log(database, list(hooks))
                hooked = counts.settled(merchant.received, hooks, log)
                if hooked and not counts.unsent(stack.mail_dir, told):
                    break
                await asyncio.sleep(1)
            result = await _count(stack, shop, scripts, start, told, merchant, kills)
            failed = any(result.values())
            return result
    finally:
        if supervisor is not None:
            supervisor.cancel()
        stack.stop()
        await merchant.stop()
        if os.environ.get("CHAOS_KEEP") is None and not failed:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"chaos: logs kept in {base}/logs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    stop_on_signals()
    started = time.monotonic()
    result = asyncio.run(run(args.orders, args.full, args.concurrency))
    print(f"chaos: {args.orders} orders in {time.monotonic() - started:.0f} s", flush=True)
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    raise SystemExit(0 if not any(result.values()) else 1)


if __name__ == "__main__":
    main()
