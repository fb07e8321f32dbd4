"""Requests waiting for an order's status, woken by PostgreSQL `NOTIFY` rather than reads.

A trigger on `orders` notifies the `order_status` channel with `"<order id> <status>"` on
every committed status change (migration b4e1f07a2c93). One connection per API process
listens and wakes the waits registered for that order, so a client waiting on an order
costs no reads while nothing happens to it, and the order workflows' histories are the
same as without waiting (docs/performance.md, "Clients that wait").

A lost listening connection is opened again in the background; every wait is then woken
to read its order once, since a status written while nobody listened was never heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from adapters.db import async_url, reconnect_delay

CHANNEL = "order_status"

log = structlog.get_logger()


class StatusWait:
    """One request's wait: woken when the order takes one of `wanted`, or to read again."""

    def __init__(self, wanted: frozenset[str]) -> None:
        self.wanted = wanted
        self.reached = False
        """A wanted status was written, even if the order has moved on since."""
        self._woken = asyncio.Event()

    def heard(self, status: str | None) -> None:
        """`status` was written; None when the listener cannot say what was missed."""
        if status is None or status in self.wanted:
            self.reached = self.reached or status is not None
            self._woken.set()

    async def woken(self) -> None:
        await self._woken.wait()
        self._woken.clear()


class StatusWaits:
    """The process's listener and its waits, keyed by order id."""

    def __init__(self, database_url: str) -> None:
        self._dsn = make_url(async_url(database_url)).set(drivername="postgresql")
        self._waits: dict[str, set[StatusWait]] = {}
        self._connection: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def waiting(self) -> int:
        """Waits registered now (the tests' leak check, and the metric)."""
        return sum(len(waits) for waits in self._waits.values())

    async def start(self) -> None:
        """Listen, or keep trying in the background: the API starts without its database
        (and answers 503 until it is back); waits meanwhile end at their timeout."""
        try:
            await self._listen()
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("status_listener_unavailable", error=type(error).__name__)
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def stop(self) -> None:
        self._stopped = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with suppress(asyncio.CancelledError):
                await self._reconnecting
        if self._connection is not None:
            await self._connection.close()

    @contextmanager
    def watch(self, order_id: str, wanted: frozenset[str]) -> Iterator[StatusWait]:
        """Registered before the caller reads the order, so no write falls between the two."""
        wait = StatusWait(wanted)
        self._waits.setdefault(order_id, set()).add(wait)
        try:
            yield wait
        finally:
            waits = self._waits[order_id]
            waits.discard(wait)
            if not waits:
                del self._waits[order_id]

    async def _listen(self) -> None:
        connection = await asyncpg.connect(self._dsn.render_as_string(hide_password=False))
        await connection.add_listener(CHANNEL, self._heard)
        connection.add_termination_listener(self._lost)
        self._connection = connection

    def _heard(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        order_id, _, status = payload.partition(" ")
        for wait in self._waits.get(order_id, ()):
            wait.heard(status)

    def _lost(self, connection: Any) -> None:
        if self._stopped or connection is not self._connection:
            return
        log.warning("status_listener_lost", waiting=self.waiting)
        self._connection = None
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._stopped:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError) as error:
                delay = reconnect_delay(attempt)
                log.warning("status_listener_unavailable", error=type(error).__name__)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            log.info("status_listener_back", waiting=self.waiting)
            for waits in self._waits.values():
                for wait in waits:
                    wait.heard(None)
            return
