"""Merchant webhooks: an event's JSON POSTed to a merchant's endpoint, HMAC-SHA256 signed
(docs/webhooks.md, "What a delivery sends").

`X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, like Stripe's: the
timestamp lets a receiver refuse replays, and `X-Event-Id` (the body's `id`) lets it ignore a
redelivery it already processed. After a secret's rotation both secrets sign, one `v1=` each.

`EndpointPoster` sends a delivery to a registered endpoint: it checks the URL again at every
attempt (`adapters.webhook_urls`) and connects to the address it checked. `MerchantWebhooks`
is the sender of the pre-endpoint `send_webhook` activity (one URL and one secret from the
environment), kept for the notification workflows still running it.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from adapters.settings import Settings
from adapters.webhook_urls import Address, Resolver, Target, UnsafeUrl, resolve_target

SIGNATURE_HEADER = "X-Signature"
EVENT_ID_HEADER = "X-Event-Id"
USER_AGENT = "commerce-engine-webhooks/1"


def signature(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The header value for `body` sent at `timestamp`: one `v1=` per secret, current first."""
    signed = f"{timestamp}.".encode() + body
    digests = [hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={digest}" for digest in digests)])


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
                SIGNATURE_HEADER: signature([self._secret], int(time.time()), body),
            },
        )
        response.raise_for_status()  # anything but 2xx: retried


@dataclass(frozen=True)
class WebhookAnswer:
    """What one POST came to: the receiver's status, if it answered, and why it failed."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class EndpointPoster:
    """POSTs one signed delivery to an endpoint; the receiver's or the network's failure is
    an answer, never an exception, so the caller records it as the attempt's outcome."""

    def __init__(
        self, client: httpx.AsyncClient, settings: Settings, *, resolver: Resolver | None = None
    ) -> None:
        self._client = client
        self._allow_loopback_http = settings.webhook_allow_loopback_http
        self._resolver = resolver

    async def post(
        self, url: str, body: bytes, secrets: Sequence[str], event_id: str
    ) -> WebhookAnswer:
        try:
            target = await resolve_target(
                url, allow_loopback_http=self._allow_loopback_http, resolver=self._resolver
            )
        except UnsafeUrl as unsafe:
            said = str(unsafe) if unsafe.reason == "unresolvable" else f"unsafe address: {unsafe}"
            return WebhookAnswer(None, said)
        headers = {
            "Host": target.authority,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event_id,
            SIGNATURE_HEADER: signature(secrets, int(time.time()), body),
            # The pool keys connections by address, not by name: a TLS connection verified
            # for one endpoint's host must not carry another's request to the same address.
            "Connection": "close",
        }
        unreachable: httpx.ConnectError | None = None
        for address in target.addresses:
            try:
                return await self._send(target, address, body, headers)
            except httpx.ConnectError as failed:  # nothing was sent: try the next address
                unreachable = failed
            except httpx.HTTPError as failed:
                return WebhookAnswer(None, _failure(failed, self._client.timeout))
        assert unreachable is not None  # a target has at least one address
        return WebhookAnswer(None, _failure(unreachable, self._client.timeout))

    async def _send(
        self, target: Target, address: Address, body: bytes, headers: dict[str, str]
    ) -> WebhookAnswer:
        """To `address`, named by `Host` and, over TLS, by SNI, so the certificate is still
        verified for the host; the answer's body is never read."""
        pinned = httpx.URL(target.url).copy_with(host=str(address), port=target.port)
        tls = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            "POST", pinned, content=body, headers=headers, extensions=tls
        )
        response = await self._client.send(request, stream=True, follow_redirects=False)
        await response.aclose()
        status = response.status_code
        if 200 <= status < 300:
            return WebhookAnswer(status, None)
        if 300 <= status < 400:
            return WebhookAnswer(status, "redirect not followed")
        return WebhookAnswer(status, f"HTTP {status}")


def _failure(failed: httpx.HTTPError, timeout: httpx.Timeout) -> str:
    """A short, secret-free account of a request that got no answer."""
    if isinstance(failed, httpx.TimeoutException):
        limits = {
            httpx.ConnectTimeout: (timeout.connect, " connecting"),
            httpx.WriteTimeout: (timeout.write, " sending"),
            httpx.PoolTimeout: (timeout.pool, " waiting for a connection"),
        }
        seconds, doing = limits.get(type(failed), (timeout.read, ""))
        return f"timed out after {seconds:g} s{doing}" if seconds is not None else "timed out"
    cause: BaseException | None = failed
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate refused: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        cause = cause.__cause__ or cause.__context__
    if isinstance(failed, httpx.RemoteProtocolError):
        return "the connection closed without a valid answer"
    return f"{type(failed).__name__}: {failed}"[:200]
