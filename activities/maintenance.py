"""Housekeeping activities (task queue `orders`): expired `Idempotency-Key`s.

The keys are reached through the `IdempotencyKeys` port; the `orders` worker
(workers/orders.py) passes the PostgreSQL store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity


class CleanupInput(BaseModel):
    """Nothing to choose: the age comes from the worker's `IDEMPOTENCY_KEY_TTL`."""


class CleanupResult(BaseModel):
    deleted: int


class IdempotencyKeys(Protocol):
    async def delete_created_before(self, cutoff: datetime) -> int:
        """Delete the keys created before `cutoff`; returns how many went."""
        ...


class MaintenanceActivities:
    def __init__(self, store: IdempotencyKeys, key_ttl: timedelta) -> None:
        self._store = store
        self._key_ttl = key_ttl

    @activity.defn
    async def delete_expired_idempotency_keys(self, inp: CleanupInput) -> CleanupResult:
        """Delete the keys older than the TTL; safe to retry (a retry deletes what is left)."""
        deleted = await self._store.delete_created_before(datetime.now(UTC) - self._key_ttl)
        activity.logger.info("deleted %d expired idempotency keys", deleted)
        return CleanupResult(deleted=deleted)
