"""Merchant webhooks: the event JSON POSTed to `MERCHANT_WEBHOOK_URL`, HMAC-SHA256 signed.

`X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed with
`MERCHANT_WEBHOOK_SECRET`, like Stripe's: the timestamp lets a receiver refuse replays, and
the body's `id` (the delivery key) lets it ignore a redelivery it already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from adapters.settings import Settings

SIGNATURE_HEADER = "X-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class MerchantWebhooks:
    """Signs and POSTs one event body; any answer but 2xx raises so the caller retries."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self._client = client
        self._url = settings.merchant_webhook_url
        secret = settings.merchant_webhook_secret
        if self._url and secret is None:
            raise ValueError("MERCHANT_WEBHOOK_SECRET is required with MERCHANT_WEBHOOK_URL")
        self._secret = secret.get_secret_value() if secret else ""

    @property
    def configured(self) -> bool:
        return bool(self._url)

    async def post(self, body: bytes) -> None:
        """Signed with the current time: each attempt carries a fresh, valid signature."""
        response = await self._client.post(
            self._url,
            content=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self._secret, int(time.time()), body),
            },
        )
        response.raise_for_status()  # anything but 2xx: retried
