"""Rate limits (the `limits` library, fixed windows): in process by default, shared by every
API replica through Redis when `REDIS_URL` is set. Over the limit is a 429 problem with
`Retry-After`. When Redis is unreachable the limits fail open (logged): an outage of the
counter store must not take logins and orders down with it.

Logins count failures only, per account and per client address, each in tiers
(`5/minute;20/hour;100/day`): the more failures, the longer the wait. An attempt reserves
its failure before the password is checked, so a burst of parallel guesses cannot all slip
under the limit, and a successful login gives the reservation back.

The client address is the socket's peer, or, when that peer is a proxy listed in
`FORWARDED_ALLOW_IPS`, the right-most `X-Forwarded-For` entry no trusted proxy added (as
uvicorn's `--forwarded-allow-ips`)."""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

import structlog
from fastapi import Depends, Request
from limits import RateLimitItem, parse, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from adapters.settings import Settings
from api.deps import CurrentUser, ServicesDep
from api.errors import Problem

log = structlog.get_logger()


@dataclass(frozen=True)
class Counter:
    """One subject counted against tiers of limits: `(items, ("login-account", email))`."""

    items: Sequence[RateLimitItem]
    key: tuple[str, ...]


@dataclass(frozen=True)
class Reservation:
    """Hits taken before the outcome was known; `RateLimits.release` gives them back."""

    hits: tuple[tuple[RateLimitItem, tuple[str, ...]], ...]


class RateLimits:
    """The API's limits and the store that counts them."""

    def __init__(self, settings: Settings) -> None:
        self.login_account = parse_many(settings.rate_limit_login)
        self.login_address = parse_many(settings.rate_limit_login_address)
        self.register = parse(settings.rate_limit_register)
        self.orders = parse(settings.rate_limit_orders)
        self.storage: Storage
        if settings.redis_url:
            self.storage = RedisStorage(
                f"async+{settings.redis_url}",
                implementation="redispy",
                key_prefix="commerce-engine",
                wrap_exceptions=True,
            )
        else:
            self.storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one request against `item` for `key`; a 429 problem once over the limit."""
        await self.reserve(Counter([item], key))

    async def reserve(self, *counters: Counter) -> Reservation:
        """Count one attempt against every tier of every counter; when any is over its limit,
        give them all back and answer 429 with the longest wait."""
        hits: list[tuple[RateLimitItem, tuple[str, ...]]] = []
        over: list[float] = []
        try:
            for counter in counters:
                for item in counter.items:
                    allowed = await self._limiter.hit(item, *counter.key)
                    hits.append((item, counter.key))
                    if not allowed:
                        stats = await self._limiter.get_window_stats(item, *counter.key)
                        over.append(stats.reset_time)
        except Exception as error:  # the store is down: fail open, loudly
            log.warning("rate_limit_store_unavailable", error=type(error).__name__)
            return Reservation(())
        if not over:
            return Reservation(tuple(hits))
        await self.release(Reservation(tuple(hits)))
        retry_after = max(1, math.ceil(max(over) - time.time()))
        raise Problem(
            429,
            "rate-limited",
            f"too many attempts; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    async def release(self, reservation: Reservation) -> None:
        """Give back what `reserve` counted (a login that succeeded counts nothing)."""
        try:
            for item, key in reservation.hits:
                await self.storage.incr(item.key_for(*key), item.get_expiry(), amount=-1)
        except Exception as error:
            log.warning("rate_limit_store_unavailable", error=type(error).__name__)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted(setting: str) -> tuple[bool, tuple[Network, ...]]:
    """`FORWARDED_ALLOW_IPS` parsed: (any proxy, networks). Unparseable entries are ignored,
    as uvicorn ignores them (logged once here)."""
    entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
    networks = []
    for entry in entries:
        if entry == "*":
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.warning("forwarded_allow_ips_entry_ignored", entry=entry)
    return "*" in entries, tuple(networks)


def _is_trusted(host: str, setting: str) -> bool:
    anyone, networks = _trusted(setting)
    if anyone:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_ip(request: Request, allow: str) -> str:
    """The caller's address: walk `X-Forwarded-For` from the right while the hop that
    added it is a trusted proxy; the first address not added by one is the client."""
    peer = request.client.host if request.client else "unknown"
    if not _is_trusted(peer, allow):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    client = peer
    while hops and _is_trusted(client, allow):
        client = hops.pop()
    return client


async def _orders_per_user(user: CurrentUser, services: ServicesDep) -> None:
    await services.limits.hit(services.limits.orders, "orders", user.user_id)


OrderRateLimit = Annotated[None, Depends(_orders_per_user)]
"""`POST /v1/orders` per user (`RATE_LIMIT_ORDERS`): add `_: OrderRateLimit` to the route."""
