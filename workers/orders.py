"""The `orders` worker: OrderWorkflow plus order and inventory activities."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from activities.orders import OrderActivities
from adapters.db import create_engine
from adapters.inventory_store import InventoryStore
from adapters.order_store import OrderStore
from adapters.settings import Settings
from adapters.temporal import ORDERS_QUEUE
from workers.runner import main, worker_options
from workflows.order import OrderWorkflow


async def build(client: Client, settings: Settings) -> Worker:
    engine = create_engine(settings)
    acts = OrderActivities(InventoryStore(engine), OrderStore(engine))
    return Worker(
        client,
        task_queue=ORDERS_QUEUE,
        workflows=[OrderWorkflow],
        activities=[acts.reserve_stock, acts.release_stock, acts.commit_stock, acts.record_order],
        **worker_options(settings, ORDERS_QUEUE),
    )


if __name__ == "__main__":
    main(ORDERS_QUEUE, build)
