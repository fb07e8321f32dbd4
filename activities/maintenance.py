"""Housekeeping activities (task queue `orders`): expired `Idempotency-Key`s, and merchant
webhook deliveries past their retention.

The rows are reached through the `IdempotencyKeys` and `OldDeliveries` ports; the `orders`
worker (workers/orders.py) passes the PostgreSQL stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity


class CleanupInput(BaseModel):
    """Nothing to choose: the age comes from the worker's settings (`IDEMPOTENCY_KEY_TTL`,
    `WEBHOOK_DELIVERY_RETENTION`)."""


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


RETENTION_BATCH = 5000
"""Deliveries deleted per statement: no transaction holds many rows, and the activity
heartbeats between batches, so a first run on a large table is neither one long lock nor
mistaken for a stuck attempt."""


class OldDeliveries(Protocol):
    async def delete_finished_before(self, cutoff: datetime, batch: int) -> int:
        """Delete at most `batch` finished deliveries untouched since before `cutoff`, with
        their attempts; returns how many went."""
        ...


class DeliveryRetention:
    def __init__(
        self, deliveries: OldDeliveries, retention: timedelta, batch: int = RETENTION_BATCH
    ) -> None:
        self._deliveries = deliveries
        self._retention = retention
        self._batch = batch

    @activity.defn
    async def delete_old_webhook_deliveries(self, inp: CleanupInput) -> CleanupResult:
        """Delete the sent and failed deliveries untouched for `WEBHOOK_DELIVERY_RETENTION`,
        a batch at a time; safe to retry (a retry deletes what is left)."""
        cutoff = datetime.now(UTC) - self._retention
        deleted = 0
        while True:
            batch = await self._deliveries.delete_finished_before(cutoff, self._batch)
            deleted += batch
            activity.heartbeat(deleted)
            if batch < self._batch:
                break
        activity.logger.info("deleted %d webhook deliveries past their retention", deleted)
        return CleanupResult(deleted=deleted)
