"""The `orders` worker: OrderWorkflow plus order and inventory activities (the read-model
step also starts the notifications, on the channels it chooses for them:
activities/notification_starts.py), the hourly cleanup of expired `Idempotency-Key`s and
the daily retention of merchant webhook deliveries. Here the activities' ports get their
PostgreSQL stores."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, ScheduleActionStartWorkflow

from activities.channels import ChannelChoice
from activities.maintenance import CleanupInput, DeliveryRetention, MaintenanceActivities
from activities.notification_starts import NotificationStarts
from activities.orders import OrderActivities
from adapters.db import create_engine
from adapters.idempotency_store import IdempotencyStore
from adapters.inventory_store import InventoryStore
from adapters.notification_store import NotificationStore
from adapters.order_store import OrderStore
from adapters.settings import Settings
from adapters.webhook_deliveries import WebhookDeliveries
from workers.runner import OwningWorker, ensure_schedule, main, worker_options
from workers.versioning import make_current_if_none
from workflows.maintenance import (
    RETENTION_SCHEDULE_ID,
    SCHEDULE_ID,
    IdempotencyCleanupWorkflow,
    WebhookRetentionWorkflow,
)
from workflows.names import ORDERS_QUEUE
from workflows.order import OrderWorkflow


async def ensure_cleanup_schedules(client: Client, settings: Settings) -> None:
    """Housekeeping: idempotency keys every `IDEMPOTENCY_CLEANUP_INTERVAL`, webhook
    deliveries daily."""
    keys = ScheduleActionStartWorkflow(
        IdempotencyCleanupWorkflow.run,
        CleanupInput(),
        id="idempotency-keys-cleanup",
        task_queue=ORDERS_QUEUE,
    )
    await ensure_schedule(client, SCHEDULE_ID, keys, settings.idempotency_cleanup_interval)
    deliveries = ScheduleActionStartWorkflow(
        WebhookRetentionWorkflow.run,
        CleanupInput(),
        id="webhook-deliveries-retention",
        task_queue=ORDERS_QUEUE,
    )
    await ensure_schedule(client, RETENTION_SCHEDULE_ID, deliveries, timedelta(days=1))


async def build(client: Client, settings: Settings) -> OwningWorker:
    engine = create_engine(settings)
    deliveries = WebhookDeliveries(engine)
    choice = ChannelChoice(NotificationStore(engine), deliveries, settings)
    acts = OrderActivities(InventoryStore(engine), OrderStore(engine), choice.chosen)
    maintenance = MaintenanceActivities(IdempotencyStore(engine), settings.idempotency_key_ttl)
    retention = DeliveryRetention(deliveries, settings.webhook_delivery_retention)
    await ensure_cleanup_schedules(client, settings)
    await make_current_if_none(client, settings)
    return OwningWorker(
        client,
        closing=[engine.dispose],
        task_queue=ORDERS_QUEUE,
        workflows=[OrderWorkflow, IdempotencyCleanupWorkflow, WebhookRetentionWorkflow],
        activities=[
            acts.reserve_stock,
            acts.release_stock,
            acts.commit_stock,
            acts.move_stock,
            acts.record_order,
            NotificationStarts(choice.chosen).start,
            maintenance.delete_expired_idempotency_keys,
            retention.delete_old_webhook_deliveries,
        ],
        **worker_options(settings, ORDERS_QUEUE),
    )


if __name__ == "__main__":
    main(ORDERS_QUEUE, build)
