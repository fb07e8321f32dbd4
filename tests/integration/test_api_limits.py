"""Rate limits: failed logins per account and per client address (tiers as backoff; a
success never counts), register per client address and per email, orders per user; the
client address from `X-Forwarded-For` only behind a trusted proxy; 429 problems with
Retry-After; counted in process or shared by replicas through Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from adapters.settings import Settings
from api.ratelimit import OrderRateLimit
from tests.integration.apps import app_client, random_ip

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


async def _redis_answers() -> bool:
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


def _email() -> str:
    return f"limit-{uuid.uuid4().hex[:10]}@example.com"


async def _login(api: httpx.AsyncClient, email: str) -> httpx.Response:
    return await api.post("/v1/auth/token", json={"email": email, "password": "wrong password!"})


def assert_rate_limited(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


PASSWORD = "correct horse battery staple"


async def _account(api: httpx.AsyncClient) -> str:
    email = _email()
    body = {"email": email, "password": PASSWORD, "name": "Limited"}
    assert (await api.post("/v1/auth/register", json=body)).status_code == 201
    return email


async def _sign_in(api: httpx.AsyncClient, email: str, **headers: str) -> httpx.Response:
    body = {"email": email, "password": PASSWORD}
    return await api.post("/v1/auth/token", json=body, headers=headers)


async def test_failed_logins_from_one_address_are_limited(settings: Settings) -> None:
    address = random_ip()
    async with app_client(settings, client=address, rate_limit_login_address="3/minute") as api:
        for _ in range(3):
            assert (await _login(api, _email())).status_code == 401
        assert_rate_limited(await _login(api, _email()))
    async with app_client(
        settings, client=random_ip(), rate_limit_login_address="3/minute"
    ) as other:
        assert (await _login(other, _email())).status_code == 401


async def test_successful_logins_are_never_counted(settings: Settings) -> None:
    limits: dict[str, Any] = {
        "rate_limit_login": "2/minute",
        "rate_limit_login_address": "2/minute",
    }
    async with app_client(settings, client=random_ip(), **limits) as api:
        email = await _account(api)
        for _ in range(5):
            assert (await _sign_in(api, email)).status_code == 200
        assert (await _login(api, email)).status_code == 401
        assert (await _sign_in(api, email)).status_code == 200
        assert (await _login(api, email)).status_code == 401
        assert_rate_limited(await _sign_in(api, email))  # the account is locked, for everyone


async def test_customers_behind_a_trusted_proxy_are_counted_apart(settings: Settings) -> None:
    """Behind an ingress every socket is the proxy's: its X-Forwarded-For names the client."""
    async with app_client(
        settings,
        client="10.1.0.7",
        forwarded_allow_ips="10.1.0.0/16",
        rate_limit_login_address="3/minute",
    ) as ingress:
        email, attacker = await _account(ingress), random_ip()
        for _ in range(3):
            answer = await _login_from(ingress, _email(), attacker)
            assert answer.status_code == 401
        assert_rate_limited(await _login_from(ingress, _email(), attacker))
        assert_rate_limited(await _login_from(ingress, _email(), f"{attacker}, 10.1.0.9"))
        customer = await _sign_in(ingress, email, **{"X-Forwarded-For": random_ip()})
        assert customer.status_code == 200


async def _login_from(api: httpx.AsyncClient, email: str, forwarded: str) -> httpx.Response:
    body = {"email": email, "password": "wrong password!"}
    return await api.post("/v1/auth/token", json=body, headers={"X-Forwarded-For": forwarded})


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(settings: Settings) -> None:
    async with app_client(
        settings, client=random_ip(), rate_limit_login_address="3/minute"
    ) as direct:
        for _ in range(3):
            assert (await _login_from(direct, _email(), random_ip())).status_code == 401
        assert_rate_limited(await _login_from(direct, _email(), random_ip()))


async def test_the_wait_grows_with_the_failures(settings: Settings) -> None:
    """Tiers are the backoff: past the hourly tier the wait is the rest of the hour."""
    email = _email()
    # a 5 s short tier: two failed logins (each a password hash) fit in it on a loaded machine
    tiers = "2/5second;3/hour"
    async with app_client(settings, client=random_ip(), rate_limit_login=tiers) as api:
        for _ in range(2):
            assert (await _login(api, email)).status_code == 401
        short = await _login(api, email)
        assert short.status_code == 429
        assert 1 <= int(short.headers["Retry-After"]) <= 5
        await asyncio.sleep(int(short.headers["Retry-After"]) + 0.1)
        assert (await _login(api, email)).status_code == 401  # the third of the hour
        long = await _login(api, email)  # the short tier has room: the hour refuses
        assert long.status_code == 429
        assert int(long.headers["Retry-After"]) > 60


async def test_logins_for_one_email_are_limited_from_any_address(settings: Settings) -> None:
    email, apps = _email(), list[FastAPI]()
    async with app_client(settings, extend=apps.append, rate_limit_login="3/minute") as api:
        for _ in range(3):
            transport = httpx.ASGITransport(app=apps[0], client=(random_ip(), 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as peer:
                assert (await _login(peer, email)).status_code == 401
        assert_rate_limited(await _login(api, email))
        assert_rate_limited(await _login(api, email.upper()))


async def test_registrations_are_limited_per_address_and_per_email(settings: Settings) -> None:
    body = {"password": "a long enough password", "name": "Limited"}
    async with app_client(settings, client=random_ip(), rate_limit_register="2/minute") as api:
        for _ in range(2):
            answer = await api.post("/v1/auth/register", json={**body, "email": _email()})
            assert answer.status_code == 201
        assert_rate_limited(await api.post("/v1/auth/register", json={**body, "email": _email()}))

    email = _email()
    async with app_client(settings, rate_limit_register="2/minute") as api:
        first = await api.post("/v1/auth/register", json={**body, "email": email})
        again = await api.post("/v1/auth/register", json={**body, "email": email})
        assert (first.status_code, again.status_code) == (201, 409)
        assert_rate_limited(await api.post("/v1/auth/register", json={**body, "email": email}))


def _with_order_probe(app: FastAPI) -> None:
    """A route guarded only by the dependency POST /v1/orders uses."""

    @app.post("/probe/orders")
    async def probe(_: OrderRateLimit) -> dict[str, str]:
        return {"status": "allowed"}


async def _customer(api: httpx.AsyncClient) -> dict[str, str]:
    email, password = _email(), "correct horse battery staple"
    await api.post("/v1/auth/register", json={"email": email, "password": password, "name": "C"})
    token = await api.post("/v1/auth/token", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def test_orders_are_limited_per_user(settings: Settings) -> None:
    async with app_client(
        settings, client=random_ip(), extend=_with_order_probe, rate_limit_orders="2/minute"
    ) as api:
        ada, grace = await _customer(api), await _customer(api)
        assert (await api.post("/probe/orders")).status_code == 401
        for _ in range(2):
            assert (await api.post("/probe/orders", headers=ada)).status_code == 200
        assert_rate_limited(await api.post("/probe/orders", headers=ada))
        assert (await api.post("/probe/orders", headers=grace)).status_code == 200


async def test_replicas_share_one_limit_through_redis(settings: Settings) -> None:
    if not await _redis_answers():
        pytest.skip(f"no Redis at {REDIS_URL}")
    address = random_ip()
    limits: dict[str, Any] = {
        "rate_limit_login": "3/minute",
        "redis_url": REDIS_URL,
        "client": address,
    }
    async with app_client(settings, **limits) as one, app_client(settings, **limits) as two:
        email = await _account(one)
        assert (await _login(one, email)).status_code == 401
        assert (await _login(two, email)).status_code == 401
        for _ in range(3):  # given back on the replica that counted them
            assert (await _sign_in(one, email)).status_code == 200
        assert (await _login(one, email)).status_code == 401
        assert_rate_limited(await _login(two, email))

    client = aioredis.from_url(REDIS_URL)
    try:
        assert await client.keys(f"commerce-engine*{address}*")
    finally:
        await client.aclose()


async def test_an_unreachable_redis_lets_requests_through(settings: Settings) -> None:
    async with app_client(
        settings, rate_limit_login="1/minute", redis_url="redis://127.0.0.1:1/0"
    ) as api:
        for _ in range(3):
            assert (await _login(api, _email())).status_code == 401
