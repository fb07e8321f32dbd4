"""Rate limits (the `limits` library, fixed windows): in process by default, shared by every
API replica through Redis when `REDIS_URL` is set. Over the limit is a 429 problem with
`Retry-After`. When Redis is unreachable the limits fail open (logged): an outage of the
counter store must not take logins and orders down with it."""

from __future__ import annotations

import math
import time
from typing import Annotated

import structlog
from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from adapters.settings import Settings
from api.deps import CurrentUser, ServicesDep
from api.errors import Problem

log = structlog.get_logger()


class RateLimits:
    """The API's limits and the store that counts them."""

    def __init__(self, settings: Settings) -> None:
        self.login = parse(settings.rate_limit_login)
        self.register = parse(settings.rate_limit_register)
        self.orders = parse(settings.rate_limit_orders)
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(
                f"async+{settings.redis_url}",
                implementation="redispy",
                key_prefix="commerce-engine",
                wrap_exceptions=True,
            )
        else:
            storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(storage)

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one request against `item` for `key`; a 429 problem once over the limit."""
        try:
            allowed = await self._limiter.hit(item, *key)
            if allowed:
                return
            reset_at = (await self._limiter.get_window_stats(item, *key)).reset_time
        except Exception as error:  # the store is down: fail open, loudly
            log.warning("rate_limit_store_unavailable", error=type(error).__name__)
            return
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise Problem(
            429,
            "rate-limited",
            f"too many requests; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def client_ip(request: Request) -> str:
    """The peer address; behind a proxy run uvicorn with `--proxy-headers`."""
    return request.client.host if request.client else "unknown"


async def _orders_per_user(user: CurrentUser, services: ServicesDep) -> None:
    await services.limits.hit(services.limits.orders, "orders", user.user_id)


OrderRateLimit = Annotated[None, Depends(_orders_per_user)]
"""`POST /v1/orders` per user (`RATE_LIMIT_ORDERS`): add `_: OrderRateLimit` to the route."""
