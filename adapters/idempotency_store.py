"""`Idempotency-Key` rows: kept for `IDEMPOTENCY_KEY_TTL` (24 h), then deleted in batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import idempotency_keys

BATCH = 5_000
"""Rows per DELETE: each statement holds its row locks briefly, so orders placed meanwhile
never wait long behind the cleanup."""


class IdempotencyStore:
    """Deletes the keys a client can no longer replay."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    async def delete_created_before(self, cutoff: datetime, batch: int = BATCH) -> int:
        """Delete every key created before `cutoff`; the number deleted."""
        keys = idempotency_keys.c
        oldest = select(keys.customer_id, keys.key).where(keys.created_at < cutoff).limit(batch)
        statement = delete(idempotency_keys).where(tuple_(keys.customer_id, keys.key).in_(oldest))
        total = 0
        async with self._engine.connect() as conn:
            while True:
                deleted = (await conn.execute(statement)).rowcount
                total += deleted
                if deleted < batch:
                    return total
