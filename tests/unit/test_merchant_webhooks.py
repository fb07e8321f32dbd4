"""Signed webhook POSTs against a real HTTP receiver on 127.0.0.1: what arrives, what a
failure comes to, and that the request goes to the address that was checked."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.merchant_webhooks import EndpointPoster, MerchantWebhooks, WebhookAnswer, signature
from adapters.settings import Settings
from tests.unit.test_webhook_urls import Answering

BODY = b'{"id":"evt_ord_1_order_shipped_1","type":"order_shipped"}'
EVENT_ID = "evt_ord_1_order_shipped_1"
NEW, OLD = "whsec_new_0123456789", "whsec_old_0123456789"
TLS_HOST, SECOND_HOST = "hooks.example.test", "second.example.test"


def hmac_hex(secret: str, stamp: str, body: bytes) -> str:
    """The receiver's own computation, written out here rather than borrowed from the code."""
    return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int


@dataclass
class Receiver:
    """A merchant's endpoint: `/hooks` answers `status`, `/moved` redirects, `/stalled` never
    answers, and every request is kept."""

    status: int = 204
    arrivals: list[Arrival] = field(default_factory=list)
    port: int = 0
    _never: asyncio.Event = field(default_factory=asyncio.Event)

    async def _take(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        port = peer[1] if peer else 0
        self.arrivals.append(
            Arrival(request.path, dict(request.headers), await request.read(), port)
        )
        if request.path == "/moved":
            raise web.HTTPTemporaryRedirect("/hooks")
        if request.path == "/stalled":
            await self._never.wait()
        return web.Response(status=self.status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{path}", self._take)
        return app


async def serve(receiver: Receiver, tls: ssl.SSLContext | None = None) -> web.AppRunner:
    runner = web.AppRunner(receiver.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    receiver.port = runner.addresses[0][1]
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    runner = await serve(receiver)
    yield receiver
    receiver._never.set()
    await runner.cleanup()


@dataclass
class Tls:
    server: ssl.SSLContext
    trusting: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A test CA and a certificate it signed for two names (and no other)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(TLS_HOST), x509.DNSName(SECOND_HOST)]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "leaf.pem", folder / "key.pem")
    trusting = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    return Tls(server, trusting)


@pytest.fixture
async def secure(tls: Tls) -> AsyncIterator[Receiver]:
    """The receiver over TLS, with the certificate of `hooks.example.test`."""
    receiver = Receiver()
    runner = await serve(receiver, tls.server)
    yield receiver
    await runner.cleanup()


@pytest.fixture
async def client(tls: Tls) -> AsyncIterator[httpx.AsyncClient]:
    """As the notifications worker's, but trusting the test CA."""
    async with httpx.AsyncClient(verify=tls.trusting, timeout=httpx.Timeout(10.0)) as client:
        yield client


def poster(
    client: httpx.AsyncClient, *addresses: str, loopback: bool = True
) -> tuple[EndpointPoster, Answering]:
    resolver = Answering(*addresses)
    settings = Settings(webhook_allow_loopback_http=loopback)
    return EndpointPoster(client, settings, resolver=resolver), resolver


def test_the_signature_has_one_v1_per_secret_the_current_one_first() -> None:
    header = signature([NEW, OLD], 1_767_225_600, BODY)

    new, old = hmac_hex(NEW, "1767225600", BODY), hmac_hex(OLD, "1767225600", BODY)
    assert header == f"t=1767225600,v1={new},v1={old}"
    assert signature([NEW], 1_767_225_600, BODY) == f"t=1767225600,v1={new}"


async def test_a_delivery_carries_its_headers_and_verifies_with_each_secret(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    send, _ = poster(client)

    answer = await send.post(f"http://127.0.0.1:{receiver.port}/hooks", BODY, [NEW, OLD], EVENT_ID)

    assert answer == WebhookAnswer(204, None)
    assert answer.ok
    [arrival] = receiver.arrivals
    assert arrival.body == BODY
    assert arrival.headers["Content-Type"] == "application/json"
    assert arrival.headers["User-Agent"] == "commerce-engine-webhooks/1"
    assert arrival.headers["X-Event-Id"] == EVENT_ID
    assert arrival.headers["Host"] == f"127.0.0.1:{receiver.port}"
    signed = re.fullmatch(r"t=(\d+),v1=(\w{64}),v1=(\w{64})", arrival.headers["X-Signature"])
    assert signed is not None
    stamp, first, second = signed.groups()
    assert (first, second) == (hmac_hex(NEW, stamp, BODY), hmac_hex(OLD, stamp, BODY))


async def test_the_host_name_is_pinned_to_the_checked_address(
    secure: Receiver, client: httpx.AsyncClient
) -> None:
    """`hooks.example.test` has no DNS record: the request can only arrive through the one
    answer the check got, and it still names the host (`Host`, and SNI for the certificate)."""
    send, resolver = poster(client, "127.0.0.1")

    answer = await send.post(f"https://{TLS_HOST}:{secure.port}/hooks", BODY, [NEW], EVENT_ID)

    assert answer == WebhookAnswer(204, None)
    assert resolver.asked == [(TLS_HOST, secure.port)]
    [arrival] = secure.arrivals
    assert arrival.headers["Host"] == f"{TLS_HOST}:{secure.port}"


async def test_an_address_that_refuses_gives_way_to_the_next_checked_one(
    secure: Receiver, client: httpx.AsyncClient
) -> None:
    send, _ = poster(client, "127.0.0.2", "127.0.0.1")  # nothing listens on 127.0.0.2

    answer = await send.post(f"https://{TLS_HOST}:{secure.port}/hooks", BODY, [NEW], EVENT_ID)

    assert answer == WebhookAnswer(204, None)
    assert len(secure.arrivals) == 1


async def test_endpoints_sharing_an_address_never_share_a_connection(
    secure: Receiver, client: httpx.AsyncClient
) -> None:
    """The client's pool knows connections by address; a connection whose certificate was
    verified for one host must not carry a request for another."""
    send, _ = poster(client, "127.0.0.1")

    for host in (TLS_HOST, SECOND_HOST):
        url = f"https://{host}:{secure.port}/hooks"
        assert await send.post(url, BODY, [NEW], EVENT_ID) == WebhookAnswer(204, None)

    first, second = secure.arrivals
    assert first.peer_port != second.peer_port
    assert second.headers["Host"] == f"{SECOND_HOST}:{secure.port}"


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    send, _ = poster(client)

    answer = await send.post(f"http://127.0.0.1:{receiver.port}/moved", BODY, [NEW], EVENT_ID)

    assert answer == WebhookAnswer(307, "redirect not followed")
    assert not answer.ok
    assert [arrival.path for arrival in receiver.arrivals] == ["/moved"]


@pytest.mark.parametrize(("status", "error"), [(500, "HTTP 500"), (404, "HTTP 404")])
async def test_an_error_status_is_an_answer_not_an_exception(
    receiver: Receiver, client: httpx.AsyncClient, status: int, error: str
) -> None:
    receiver.status = status
    send, _ = poster(client)

    answer = await send.post(f"http://127.0.0.1:{receiver.port}/hooks", BODY, [NEW], EVENT_ID)

    assert answer == WebhookAnswer(status, error)
    assert not answer.ok


async def test_a_receiver_that_does_not_answer_times_out(receiver: Receiver) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.2)) as short:
        send, _ = poster(short)

        answer = await send.post(f"http://127.0.0.1:{receiver.port}/stalled", BODY, [NEW], EVENT_ID)

    assert answer == WebhookAnswer(None, "timed out after 0.2 s")


async def test_a_closed_port_is_a_refused_connection(client: httpx.AsyncClient) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    send, _ = poster(client)

    answer = await send.post(f"http://127.0.0.1:{port}/hooks", BODY, [NEW], EVENT_ID)

    assert answer == WebhookAnswer(None, "connection refused")


async def test_an_address_refused_at_send_time_is_never_contacted(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    """A host whose DNS now answers a private address (it may have changed since the
    endpoint was saved) gets no request; nor does loopback once the flag is off."""
    rebound, _ = poster(client, "93.184.216.34", "10.0.0.7")
    strict, _ = poster(client, loopback=False)

    answers = [
        await rebound.post(f"https://{TLS_HOST}/hooks", BODY, [NEW], EVENT_ID),
        await strict.post(f"http://127.0.0.1:{receiver.port}/hooks", BODY, [NEW], EVENT_ID),
    ]

    assert answers == [
        WebhookAnswer(
            None,
            f"unsafe address: {TLS_HOST} resolves to 10.0.0.7, which is a private network"
            " address; webhooks go only to public internet addresses",
        ),
        WebhookAnswer(None, "unsafe address: webhook URLs must start with https://"),
    ]
    assert receiver.arrivals == []


async def test_an_unresolvable_host_is_a_failed_attempt(client: httpx.AsyncClient) -> None:
    send, _ = poster(client)

    answer = await send.post("https://hooks.example.invalid/hooks", BODY, [NEW], EVENT_ID)

    assert answer == WebhookAnswer(None, "hooks.example.invalid could not be resolved")


async def test_over_tls_the_certificate_must_name_the_host_not_the_address(
    secure: Receiver, client: httpx.AsyncClient
) -> None:
    send, _ = poster(client, "127.0.0.1")

    answer = await send.post(
        f"https://other.example.test:{secure.port}/hooks", BODY, [NEW], EVENT_ID
    )

    assert answer.status_code is None
    assert answer.error is not None
    assert answer.error.startswith("TLS certificate refused: Hostname mismatch")
    assert secure.arrivals == []


async def test_the_legacy_sender_signs_with_its_one_secret_and_raises_on_failure(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    settings = Settings(
        merchant_webhook_url=f"http://127.0.0.1:{receiver.port}/hooks",
        merchant_webhook_secret=NEW,  # type: ignore[arg-type]
    )
    legacy = MerchantWebhooks(client, settings)

    await legacy.post(BODY)
    receiver.status = 503
    with pytest.raises(httpx.HTTPStatusError):
        await legacy.post(BODY)

    signed = re.fullmatch(r"t=(\d+),v1=(\w{64})", receiver.arrivals[0].headers["X-Signature"])
    assert signed is not None
    stamp, digest = signed.groups()
    assert digest == hmac_hex(NEW, stamp, BODY)
    assert len(receiver.arrivals) == 2


def test_an_answer_is_ok_only_for_2xx_without_error() -> None:
    assert WebhookAnswer(200, None).ok
    assert WebhookAnswer(299, None).ok
    assert not WebhookAnswer(300, None).ok
    assert not WebhookAnswer(None, "connection refused").ok
    assert not WebhookAnswer(204, "something").ok
