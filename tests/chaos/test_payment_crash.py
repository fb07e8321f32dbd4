"""The payments worker SIGKILLed while an authorization is in flight (issue: nothing lost,
nothing charged twice): after a restart the order is confirmed with one authorization in the
ledger, and Stripe was asked twice with one idempotency key (real Stripe answers the retry
with the first PaymentIntent; localstripe does not honour keys, so we check what we send)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from aiohttp import ClientSession, web

from bench.shop import ADDRESS, customer
from devstack.isolated import start_stack
from devstack.process import free_port

pytestmark = pytest.mark.e2e


class SlowStripe:
    """A proxy in front of localstripe that holds PaymentIntent creations for a while and
    records the idempotency key of each."""

    def __init__(self, upstream: str, delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.creations: list[str | None] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "POST" and request.path == "/v1/payment_intents":
            self.creations.append(request.headers.get("Idempotency-Key"))
            self.arrived.set()
            await asyncio.sleep(self.delay)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as answer,
        ):
            return web.Response(
                body=await answer.read(), status=answer.status, content_type=answer.content_type
            )


async def test_payments_worker_killed_mid_authorization_confirms_with_one_authorization(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    base = Path(tempfile.mkdtemp(prefix="engine-payment-crash-"))
    stack = start_stack(base)
    proxy = SlowStripe(stack.env["STRIPE_API_BASE"], delay=2.0)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        stack.apps["payments"].stop(grace=30)
        stack.env = {**stack.env, "STRIPE_API_BASE": f"http://127.0.0.1:{port}"}
        stack.start_app("payments")
        async with httpx.AsyncClient(base_url=stack.api, timeout=60) as api:
            headers = await customer(api, "crash")
            placed = await api.post(
                "/v1/orders",
                headers=headers,
                json={
                    "lines": [{"sku": "MUG-LOGO", "quantity": 1}],
                    "shipping_address": ADDRESS,
                    "payment_method": "pm_card_visa",
                },
            )
            order_id = placed.json()["id"]

            await asyncio.wait_for(proxy.arrived.wait(), timeout=30)
            stack.kill("payments")  # Stripe has the request; the worker never sees the answer
            stack.start_app("payments")

            status = ""
            for _ in range(400):  # the activity times out (30 s) and is retried
                order = (await api.get(f"/v1/orders/{order_id}", headers=headers)).json()
                status = order["status"]
                if status == "confirmed":
                    break
                await asyncio.sleep(0.25)

        assert status == "confirmed"
        assert order["payment"]["authorized"]["amount"] == 1200
        key = f"payment-{order_id}:authorize:1"
        assert proxy.creations == [key, key]
    finally:
        await runner.cleanup()
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)
