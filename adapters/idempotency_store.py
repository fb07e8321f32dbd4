"""`Idempotency-Key` rows: a customer's key stands for one order placed with one request;
kept for `IDEMPOTENCY_KEY_TTL` (24 h), then deleted in batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import idempotency_keys
from domain.errors import IdempotencyKeyReused

BATCH = 5_000
"""Rows per DELETE: each statement holds its row locks briefly, so orders placed meanwhile
never wait long behind the cleanup."""


class IdempotencyStore:
    """Claims a key for an order, and deletes the keys a client can no longer replay."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)

    async def claim(
        self, customer_id: str, key: str, request_hash: str, order_id: str
    ) -> tuple[str, bool]:
        """The order id `key` stands for, and whether it was claimed before: a new key is
        claimed for `order_id`; a known one answers its own order, or, sent with another
        request (`request_hash`), is refused (`IdempotencyKeyReused`)."""
        keys = idempotency_keys.c
        async with self._engine.connect() as conn:
            inserted = await conn.execute(
                insert(idempotency_keys)
                .values(
                    customer_id=customer_id, key=key, request_hash=request_hash, order_id=order_id
                )
                .on_conflict_do_nothing()
                .returning(keys.order_id)
            )
            if inserted.first() is not None:
                return order_id, False
            existing = (
                await conn.execute(
                    select(keys.request_hash, keys.order_id).where(
                        keys.customer_id == customer_id, keys.key == key
                    )
                )
            ).one()
        if existing.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body"
            )
        return existing.order_id, True

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
