"""Merchant webhook deliveries are kept for `WEBHOOK_DELIVERY_RETENTION` (30 days): a daily
Temporal Schedule runs WebhookRetentionWorkflow on the `orders` queue, which deletes the
finished deliveries untouched for longer, with their attempts, and never a pending one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleIntervalSpec

from activities.maintenance import CleanupInput
from adapters.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from adapters.webhook_deliveries import WebhookDeliveries
from adapters.webhook_endpoints import EndpointStore, new_secret
from tests.integration.test_notifications import place_order
from workflows.maintenance import RETENTION_SCHEDULE_ID, WebhookRetentionWorkflow
from workflows.names import ORDERS_QUEUE

pytestmark = pytest.mark.integration

_d = webhook_deliveries.c


@pytest.fixture
async def endpoint_id(engine: AsyncEngine) -> AsyncIterator[str]:
    """An endpoint of this test's own; deleting it takes its deliveries and attempts."""
    made = await EndpointStore(engine).create(
        url="https://merchant.example/hooks",
        events=["*"],
        description="retention",
        secret=new_secret(),
    )
    yield made["id"]
    async with engine.begin() as conn:
        await conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == made["id"]))


async def deliveries(
    engine: AsyncEngine, endpoint_id: str, ages: dict[str, tuple[str, timedelta]]
) -> None:
    """One delivery per name, `(status, time since its last change)`, each with an attempt."""
    order_id = await place_order(engine)
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"whd_{endpoint_id[-6:]}_{name}",
            "endpoint_id": endpoint_id,
            "event_id": f"evt_{uuid.uuid4().hex}",
            "event": "order_confirmed",
            "order_id": order_id,
            "event_created_at": now - age,
            "status": status,
            "created_at": now - age,
            "updated_at": now - age,
        }
        for name, (status, age) in ages.items()
    ]
    attempts = [
        {
            "delivery_id": row["id"],
            "seq": 1,
            "series": 1,
            "at": row["updated_at"],
            "outcome": "failed",
        }
        for row in rows
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(webhook_deliveries), rows)
        await conn.execute(insert(webhook_attempts), attempts)


async def kept(engine: AsyncEngine, endpoint_id: str) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.execute(select(_d.id).where(_d.endpoint_id == endpoint_id))
        return {str(delivery_id).rsplit("_", 1)[-1] for delivery_id in found.scalars()}


async def attempts_left(engine: AsyncEngine, endpoint_id: str) -> int:
    async with engine.connect() as conn:
        ours = select(_d.id).where(_d.endpoint_id == endpoint_id)
        query = select(func.count()).where(webhook_attempts.c.delivery_id.in_(ours))
        return int((await conn.execute(query)).scalar_one())


async def test_the_retention_deletes_finished_deliveries_past_30_days_with_their_attempts(
    temporal: Client, workers: None, engine: AsyncEngine, endpoint_id: str
) -> None:
    await deliveries(
        engine,
        endpoint_id,
        {
            "sentlong": ("sent", timedelta(days=31)),
            "failedlong": ("failed", timedelta(days=45)),
            "pendinglong": ("pending", timedelta(days=60)),  # a redelivery never ends up here
            "sentrecent": ("sent", timedelta(days=29)),
            "failedrecent": ("failed", timedelta(hours=1)),
        },
    )

    result = await temporal.execute_workflow(
        WebhookRetentionWorkflow.run,
        CleanupInput(),
        id=f"webhook-retention-test-{uuid.uuid4().hex[:8]}",
        task_queue=ORDERS_QUEUE,
    )

    assert result.deleted >= 2
    assert await kept(engine, endpoint_id) == {"pendinglong", "sentrecent", "failedrecent"}
    assert await attempts_left(engine, endpoint_id) == 3


async def test_the_store_deletes_one_batch_oldest_first(
    engine: AsyncEngine, endpoint_id: str
) -> None:
    await deliveries(
        engine, endpoint_id, {f"old{n}": ("sent", timedelta(days=40 + n)) for n in range(5)}
    )
    store = WebhookDeliveries(engine)
    cutoff = datetime.now(UTC) - timedelta(days=30)

    first = await store.delete_finished_before(cutoff, batch=2)
    after_first = await kept(engine, endpoint_id)

    assert first == 2
    assert after_first == {"old0", "old1", "old2"}, "the two oldest went first"


async def test_the_orders_worker_schedules_the_retention_daily(
    temporal: Client, workers: None
) -> None:
    described = await temporal.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()

    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "WebhookRetentionWorkflow"
    assert action.task_queue == ORDERS_QUEUE
    assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(days=1))]
