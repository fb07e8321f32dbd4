"""What the operations endpoints ask PostgreSQL: whether it answers (`/readyz`) and how many
orders the read model holds in each status (`/metrics`)."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import orders


class OperationsStore:
    """Read-only probes of the database, one statement each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    async def ping(self) -> None:
        """Returns when PostgreSQL answers a trivial statement; raises otherwise."""
        async with self._engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def orders_by_status(self) -> dict[str, int]:
        """A scan of the read model: callers decide how often it may run."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(orders.c.status, func.count()).group_by(orders.c.status)
            )
            return {status: count for status, count in rows.all()}
