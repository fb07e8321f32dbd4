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
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe

from devstack.mailbox import read_mailbox
from devstack.services import (
    Service,
    free_port,
    start_localstripe,
    start_postgres,
    start_smtp_sink,
    start_temporal,
)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("orders", "payments", "notifications")
ADDRESS = {
    "name": "Chaos Monkey",
    "line1": "1 Main St",
    "city": "London",
    "postal_code": "N1 1AA",
    "country": "GB",
}
OPERATOR_PASSWORD = "chaos-operator-password"


@dataclass
class Stack:
    """The real parts and the engine's processes, each restartable."""

    base: Path
    env: dict[str, str]
    temporal_port: int
    stripe_port: int
    smtp_port: int
    api_port: int
    services: dict[str, Service] = field(default_factory=dict)
    apps: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mail_dir(self) -> Path:
        return self.base / "mail"

    def start_temporal(self) -> None:
        self.services["temporal"] = start_temporal(
            port=self.temporal_port,
            ui_port=free_port(),
            db_file=self.base / "temporal.db",
            log_file=self.base / "logs" / "temporal.log",
        )

    def start_smtp(self) -> None:
        self.services["smtp"] = start_smtp_sink(
            port=self.smtp_port, mail_dir=self.mail_dir, log_file=self.base / "logs" / "smtp.log"
        )

    def start_app(self, name: str) -> None:
        module = "api" if name == "api" else f"workers.{name}"
        log = (self.base / "logs" / f"{name}.log").open("ab")
        self.apps[name] = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, in-flight tasks are lost mid-way."""
        process = self.apps[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.apps.values():
            if process.poll() is None:
                process.terminate()
        for process in self.apps.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for service in reversed(list(self.services.values())):
            service.stop()


def _migrate_and_seed(env: dict[str, str]) -> None:
    for argv in (["-m", "alembic", "upgrade", "head"], ["-m", "adapters.seed"]):
        subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, check=True, capture_output=True)


def stop_on_signals() -> None:
    """SIGTERM, and SIGINT even in a background job (which starts with SIGINT ignored), end
    a run as Ctrl-C does: the stack it started is stopped on the way out."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.default_int_handler)


def start_stack(base: Path, extra_env: dict[str, str] | None = None) -> Stack:
    (base / "logs").mkdir(parents=True)
    stack = Stack(base, {}, free_port(), free_port(), free_port(), free_port())
    stack.start_temporal()
    stack.services["localstripe"] = start_localstripe(
        port=stack.stripe_port, log_file=base / "logs" / "localstripe.log"
    )
    stack.start_smtp()
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url:
        raise SystemExit(
            "chaos restarts PostgreSQL: run it with the embedded one (unset DATABASE_URL)"
        )
    postgres = start_postgres(base / "postgres")
    stack.services["postgres"] = postgres
    stack.env = {
        **os.environ,
        "DATABASE_URL": postgres.address,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.temporal_port}",
        "STRIPE_API_BASE": f"http://127.0.0.1:{stack.stripe_port}",
        "SMTP_PORT": str(stack.smtp_port),
        "API_PORT": str(stack.api_port),
        "JWT_SECRET": "chaos-secret-0123456789-0123456789",
        "OPERATOR_PASSWORD": OPERATOR_PASSWORD,
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        # one client IP registers every customer here
        "RATE_LIMIT_LOGIN": "100000/minute",
        "RATE_LIMIT_REGISTER": "100000/minute",
        "RATE_LIMIT_ORDERS": "100000/minute",
        **(extra_env or {}),
    }
    _migrate_and_seed(stack.env)
    for name in (*WORKERS, "api"):
        stack.start_app(name)
    return stack


async def wait_ready(api: httpx.AsyncClient, timeout: float = 90) -> None:  # noqa: ASYNC109
    """Until the stack's API answers /readyz with 200 (PostgreSQL and Temporal up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await api.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise RuntimeError("the API never became ready")


async def _retrying(call: Any, *, attempts: int = 120) -> httpx.Response:
    """Clients retry through outages (503s and refused connections) like a shop would."""
    for _ in range(attempts):
        try:
            answer: httpx.Response = await call()
            if answer.status_code < 500 and answer.status_code != 429:
                return answer
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("the API did not answer through the outage")


@dataclass
class Script:
    """What one order is meant to become."""

    order_id: str
    intent: str  # "delivered" or "cancelled"


async def login(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    """The bearer header of an account of an isolated stack (retried through outages)."""
    token = await _retrying(
        lambda: api.post("/v1/auth/token", json={"email": email, "password": password})
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def operator(api: httpx.AsyncClient) -> dict[str, str]:
    return await login(api, "operator@example.com", OPERATOR_PASSWORD)


async def customer(api: httpx.AsyncClient, prefix: str = "chaos") -> dict[str, str]:
    """A new customer of an isolated stack, logged in."""
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
    password = "chaos password 123"
    await _retrying(
        lambda: api.post(
            "/v1/auth/register", json={"email": email, "password": password, "name": "C"}
        )
    )
    return await login(api, email, password)


async def _status(api: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> str:
    answer = await _retrying(lambda: api.get(f"/v1/orders/{order_id}", headers=headers))
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
    placed = await _retrying(
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
    postgres = stack.services["postgres"]
    postgres.stop()
    print("chaos: PostgreSQL stopped", flush=True)
    await asyncio.sleep(3)
    stack.services["postgres"] = start_postgres(stack.base / "postgres")
    print("chaos: PostgreSQL restarted", flush=True)
    localstripe = stack.services["localstripe"]
    os.kill(localstripe.pid, signal.SIGSTOP)  # down without losing its (in-memory) state
    print("chaos: localstripe frozen for 30 s", flush=True)
    await asyncio.sleep(30)
    os.kill(localstripe.pid, signal.SIGCONT)
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
            await wait_ready(api)
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
