"""SMS and merchant webhooks for a real order: the notification workflow's channel registry
picks the channels (a phone and a provider for SMS; for webhooks, the endpoint
MERCHANT_WEBHOOK_URL seeds, which takes every event) and every event reaches each once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bench.shop import ADDRESS
from devstack.isolated import start_stack
from devstack.process import free_port
from workflows.webhook_contracts import event_id

pytestmark = pytest.mark.e2e
SECRET = "merchant-secret-for-tests"
TOKEN = "sms-token-for-tests"


def verify(header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


async def test_an_order_reaches_the_customer_by_sms_and_the_merchant_by_signed_webhook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    sms: list[dict[str, Any]] = []
    hooks: list[dict[str, Any]] = []
    forged: list[bytes] = []

    async def sms_provider(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        sms.append(await request.json())
        return web.json_response({"id": f"sms_{len(sms)}"})

    async def merchant(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(request.headers.get("X-Signature", ""), body):
            forged.append(body)
            return web.Response(status=400)
        hook = json.loads(body)
        if request.headers.get("X-Event-Id") != hook["id"]:
            forged.append(body)
            return web.Response(status=400)
        hooks.append(hook)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/sms", sms_provider)
    app.router.add_post("/hooks", merchant)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = Path(tempfile.mkdtemp(prefix="engine-channels-"))
    stack = start_stack(
        base,
        {
            "SMS_PROVIDER_URL": f"http://127.0.0.1:{port}/sms",
            "SMS_PROVIDER_TOKEN": TOKEN,
            "MERCHANT_WEBHOOK_URL": f"http://127.0.0.1:{port}/hooks",
            "MERCHANT_WEBHOOK_SECRET": SECRET,
            "WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
        },
    )
    try:
        async with httpx.AsyncClient(base_url=stack.api, timeout=60) as api:
            email = f"sms-{uuid.uuid4().hex[:8]}@example.com"
            await api.post(
                "/v1/auth/register",
                json={
                    "email": email,
                    "password": "a long password",
                    "name": "Sam",
                    "phone": "+44 7700 900123",
                },
            )
            token = (
                await api.post(
                    "/v1/auth/token", json={"email": email, "password": "a long password"}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            order = (
                await api.post(
                    "/v1/orders",
                    headers=headers,
                    json={
                        "lines": [{"sku": "MUG-LOGO", "quantity": 1}],
                        "shipping_address": ADDRESS,
                        "payment_method": "pm_card_visa",
                    },
                )
            ).json()

            deliveries: list[dict[str, Any]] = []
            for _ in range(200):
                deliveries = (
                    await api.get(f"/v1/orders/{order['id']}/notifications", headers=headers)
                ).json()
                if sum(d["status"] == "sent" for d in deliveries) == 4 and len(hooks) == 2:
                    break
                await asyncio.sleep(0.2)

        sent = {(d["event"], d["channel"]) for d in deliveries if d["status"] == "sent"}
        assert sent == {
            (event, channel)
            for event in ("order_accepted", "order_confirmed")
            for channel in ("email", "sms")
        }, "the webhook deliveries are in the endpoint's log, not the order's notifications"
        assert {m["to"] for m in sms} == {"+44 7700 900123"}
        assert len(sms) == 2
        assert Counter(h["type"] for h in hooks) == {"order_accepted": 1, "order_confirmed": 1}
        assert {h["id"] for h in hooks} == {
            event_id(order["id"], event, 1) for event in ("order_accepted", "order_confirmed")
        }
        assert forged == []
    finally:
        stack.stop()
        await runner.cleanup()
        shutil.rmtree(base, ignore_errors=True)
