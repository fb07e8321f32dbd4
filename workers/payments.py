"""The `payments` worker: PaymentWorkflow plus Stripe activities, rate-limited."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from activities.payments import PaymentActivities
from adapters.settings import Settings
from adapters.stripe_gateway import StripeGateway
from adapters.temporal import PAYMENTS_QUEUE
from workers.runner import GRACEFUL_SHUTDOWN, main
from workflows.payment import PaymentWorkflow


async def build(client: Client, settings: Settings) -> Worker:
    acts = PaymentActivities(StripeGateway(settings))
    return Worker(
        client,
        task_queue=PAYMENTS_QUEUE,
        workflows=[PaymentWorkflow],
        activities=[
            acts.authorize_payment,
            acts.capture_payment,
            acts.void_payment,
            acts.refresh_payment,
        ],
        # Shared by every payments worker: Stripe's rate limit is per account.
        max_task_queue_activities_per_second=settings.stripe_rate_per_second,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


if __name__ == "__main__":
    main(PAYMENTS_QUEUE, build)
