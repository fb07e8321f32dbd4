"""Idempotency keys expire: a Temporal Schedule runs IdempotencyCleanupWorkflow on the
`orders` queue, which deletes the keys older than IDEMPOTENCY_KEY_TTL (24 h) from PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleIntervalSpec

from activities.maintenance import CleanupInput
from adapters.idempotency_store import IdempotencyStore
from adapters.settings import Settings
from adapters.tables import idempotency_keys
from workflows.maintenance import SCHEDULE_ID, IdempotencyCleanupWorkflow
from workflows.names import ORDERS_QUEUE

pytestmark = pytest.mark.integration


async def _keys(engine: AsyncEngine, customer_id: str) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(idempotency_keys.c.key).where(idempotency_keys.c.customer_id == customer_id)
        )
        return set(found.scalars())


async def _insert(engine: AsyncEngine, customer_id: str, ages: dict[str, timedelta]) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "customer_id": customer_id,
            "key": key,
            "request_hash": "0" * 64,
            "order_id": f"ord_{uuid.uuid4().hex[:12]}",
            "created_at": now - age,
        }
        for key, age in ages.items()
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(idempotency_keys), rows)


async def test_the_cleanup_deletes_keys_older_than_a_day_only(
    temporal: Client, workers: None, engine: AsyncEngine
) -> None:
    customer_id = f"cus_{uuid.uuid4().hex[:12]}"
    await _insert(
        engine,
        customer_id,
        {"yesterday": timedelta(hours=25), "last-week": timedelta(days=7),
         "this-morning": timedelta(hours=23), "just-now": timedelta(0)},
    )  # fmt: skip

    result = await temporal.execute_workflow(
        IdempotencyCleanupWorkflow.run,
        CleanupInput(),
        id=f"idempotency-cleanup-test-{uuid.uuid4().hex[:8]}",
        task_queue=ORDERS_QUEUE,
    )

    assert result.deleted >= 2
    assert await _keys(engine, customer_id) == {"this-morning", "just-now"}


async def test_the_store_deletes_in_batches_until_none_is_left(engine: AsyncEngine) -> None:
    customer_id = f"cus_{uuid.uuid4().hex[:12]}"
    await _insert(engine, customer_id, {f"old-{n}": timedelta(days=2) for n in range(7)})
    cutoff = datetime.now(UTC) - timedelta(days=1)
    assert await IdempotencyStore(engine).delete_created_before(cutoff, batch=3) >= 7
    assert await _keys(engine, customer_id) == set()
    async with engine.connect() as conn:
        left = await conn.scalar(select(func.count()).where(idempotency_keys.c.created_at < cutoff))
    assert left == 0


async def test_the_orders_worker_schedules_the_cleanup(
    temporal: Client, workers: None, settings: Settings
) -> None:
    described = await temporal.get_schedule_handle(SCHEDULE_ID).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "IdempotencyCleanupWorkflow"
    assert action.task_queue == ORDERS_QUEUE
    [interval] = described.schedule.spec.intervals
    assert isinstance(interval, ScheduleIntervalSpec)
    assert interval.every == settings.idempotency_cleanup_interval
