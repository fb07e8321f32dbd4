"""The `notifications` worker: NotificationWorkflow, WebhookDeliveryWorkflow (a redelivery)
and the delivery activities.

The composition root of notifications: the activities and the channel registry know ports
only (activities/notification_ports.py); here the real adapters and the settings go in.
"""

from __future__ import annotations

import httpx
from temporalio.client import Client

from activities.channels import ChannelChoice, notification_activities
from activities.notifications import NotificationActivities
from activities.webhooks import WebhookActivities
from adapters.db import create_engine
from adapters.mailer import Mailer
from adapters.merchant_webhooks import EndpointPoster, MerchantWebhooks
from adapters.notification_store import NotificationStore
from adapters.settings import Settings
from adapters.sms import SmsGateway
from adapters.webhook_deliveries import WebhookDeliveries
from workers.runner import OwningWorker, main, worker_options
from workers.versioning import make_current_if_none
from workflows.names import NOTIFICATIONS_QUEUE
from workflows.notification import NotificationWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

HTTP_TIMEOUT = httpx.Timeout(10.0)
"""SMS provider and merchant calls; well inside an attempt's start-to-close timeout."""


async def build(
    client: Client,
    settings: Settings,
    *,
    task_queue: str = NOTIFICATIONS_QUEUE,
    identity: str | None = None,
) -> OwningWorker:
    """Any number of copies may poll the queue: each delivery is claimed in PostgreSQL."""
    engine = create_engine(settings)
    http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
    store, deliveries, mailer = (
        NotificationStore(engine),
        WebhookDeliveries(engine),
        Mailer(settings),
    )
    senders = NotificationActivities(
        store,
        mailer,
        SmsGateway(http, settings),
        MerchantWebhooks(http, settings),
    )
    webhooks = WebhookActivities(
        deliveries, store, EndpointPoster(http, settings), mailer, settings.operator_email
    )
    choice = ChannelChoice(store, deliveries, settings)
    await make_current_if_none(client, settings)
    return OwningWorker(
        client,
        closing=[engine.dispose, http.aclose, mailer.close],
        task_queue=task_queue,
        identity=identity,
        workflows=[NotificationWorkflow, WebhookDeliveryWorkflow],
        activities=notification_activities(senders, choice, webhooks),
        **worker_options(settings, NOTIFICATIONS_QUEUE),
    )


if __name__ == "__main__":
    main(NOTIFICATIONS_QUEUE, build)
