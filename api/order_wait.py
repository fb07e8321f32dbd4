"""`GET /v1/orders/{id}?wait_for=...`: answer once the order takes a wanted status, or with
the order as it is at the timeout (docs/orders.md, "Waiting for a status").

The order is read when the wait starts, when the listener (`adapters/status_waits.py`)
hears a wanted status written, and at the timeout: never on a schedule. A client that
hangs up ends its wait at once, so nothing stays registered for an answer nobody reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from adapters.status_waits import StatusWait

MAX_WAIT = 30.0
"""Seconds a request may wait at most: below the usual proxy and load-balancer idle
timeouts (60 s), so the answer, not the proxy, ends a wait."""

Row = dict[str, Any]


class ClientGone(Exception):
    """The client hung up while waiting."""


async def _hung_up(request: Request) -> None:
    """Returns when the client disconnects: the server's next message then says so (a GET's
    first message is its empty body)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def until_status(
    read: Callable[[], Awaitable[Row]], wait: StatusWait, seconds: float, request: Request
) -> tuple[Row, bool]:
    """The order and whether it reached a wanted status (False: `seconds` passed first).
    Raises `ClientGone` when the client hangs up; `read`'s own errors (a 404) as they are."""
    row = await read()
    if row["status"] in wait.wanted:
        return row, True
    if seconds <= 0:
        return row, False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    hung_up = asyncio.ensure_future(_hung_up(request))
    try:
        while (remaining := deadline - loop.time()) > 0:
            woken = asyncio.ensure_future(wait.woken())
            done, _ = await asyncio.wait(
                {woken, hung_up}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            woken.cancel()
            if hung_up in done:
                raise ClientGone
            if woken not in done:
                break
            row = await read()
            if wait.reached or row["status"] in wait.wanted:
                return row, True
    finally:
        hung_up.cancel()
    return await read(), False
