"""The merchant's webhook receiver of a chaos run: a real HTTP server on loopback that the run
seeds as the engine's one endpoint (MERCHANT_WEBHOOK_URL, every event).

It refuses each event's first attempt (503), so every delivery is still in flight, waiting
for its retry, when the notifications worker is killed; it checks every signature with its
own HMAC and keeps each accepted request's `X-Event-Id`, so the count can say which events
arrived twice and which never. Like a real receiver it takes an event the moment it is sure
of it and answers at once: a second request for an event it took is the engine's duplicate.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from aiohttp import web

from devstack.process import free_port

SECRET = "whsec_chaos_merchant_0123456789"


def signed_by(secret: str, header: str, body: bytes) -> bool:
    """Whether any `v1=` of an `X-Signature: t=…,v1=…[,v1=…]` is the HMAC-SHA256 of `t.body`."""
    pairs = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in pairs if key == "t"]
    if len(stamps) != 1:
        return False
    digest = hmac.new(secret.encode(), f"{stamps[0]}.".encode() + body, hashlib.sha256)
    return any(
        hmac.compare_digest(digest.hexdigest(), value) for key, value in pairs if key == "v1"
    )


@dataclass
class Merchant:
    port: int = field(default_factory=free_port)
    received: collections.Counter[str] = field(default_factory=collections.Counter)
    """Requests per `X-Event-Id` that verified and whose body's `id` matched the header."""
    refused: list[str] = field(default_factory=list)
    """What was wrong with each request answered 400."""
    first: set[str] = field(default_factory=set)
    """Events whose first attempt was answered 503."""
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def env(self) -> dict[str, str]:
        """What seeds the engine's endpoint for this receiver, loopback allowed."""
        return {
            "MERCHANT_WEBHOOK_URL": self.url,
            "MERCHANT_WEBHOOK_SECRET": SECRET,
            "WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
        }

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = request.headers.get("X-Event-Id", "")
        if not signed_by(SECRET, request.headers.get("X-Signature", ""), body):
            self.refused.append(f"{event_id or '?'}: bad signature")
            return web.Response(status=400)
        if json.loads(body).get("id") != event_id:
            self.refused.append(f"{event_id or '?'}: body id differs from X-Event-Id")
            return web.Response(status=400)
        if event_id not in self.first:
            self.first.add(event_id)
            return web.Response(status=503, text="busy: try again")
        self.received[event_id] += 1
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
