"""The `notifications` worker: NotificationWorkflow plus delivery activities."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from activities.notifications import NotificationActivities
from adapters.db import create_engine
from adapters.mailer import Mailer
from adapters.notification_store import NotificationStore
from adapters.settings import Settings
from adapters.temporal import NOTIFICATIONS_QUEUE
from workers.runner import GRACEFUL_SHUTDOWN, main
from workflows.notification import NotificationWorkflow


async def build(client: Client, settings: Settings) -> Worker:
    engine = create_engine(settings)
    acts = NotificationActivities(NotificationStore(engine), Mailer(settings))
    return Worker(
        client,
        task_queue=NOTIFICATIONS_QUEUE,
        workflows=[NotificationWorkflow],
        activities=[acts.send_email, acts.mark_failed],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


if __name__ == "__main__":
    main(NOTIFICATIONS_QUEUE, build)
