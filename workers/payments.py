"""The `payments` worker: PaymentWorkflow, reconciliation and the payment activities.

It is the composition root of payments: the one place that chooses the provider (Stripe)
and hands it, as a `PaymentGateway`, to activities that know only the port.
"""

from __future__ import annotations

from temporalio.client import Client, ScheduleActionStartWorkflow

from activities.payments import PaymentActivities
from activities.reconciliation import ReconcileInput, ReconciliationActivities
from adapters.db import create_engine
from adapters.reconciliation_store import ReconciliationStore
from adapters.settings import Settings
from adapters.stripe_gateway import StripeGateway
from domain.payments import PaymentGateway
from domain.reconciliation import ReconciliationLedger
from workers.runner import OwningWorker, ensure_schedule, main, worker_options
from workers.versioning import make_current_if_none
from workflows.names import PAYMENTS_QUEUE
from workflows.payment import PaymentWorkflow
from workflows.reconciliation import SCHEDULE_ID, ReconciliationWorkflow


async def ensure_reconciliation_schedule(client: Client, settings: Settings) -> None:
    action = ScheduleActionStartWorkflow(
        ReconciliationWorkflow.run,
        ReconcileInput(),
        id="reconciliation",
        task_queue=PAYMENTS_QUEUE,
    )
    await ensure_schedule(client, SCHEDULE_ID, action, settings.reconciliation_interval)


async def build(client: Client, settings: Settings) -> OwningWorker:
    stripe_api, engine = StripeGateway(settings), create_engine(settings)
    gateway: PaymentGateway = stripe_api
    ledger: ReconciliationLedger = ReconciliationStore(engine)
    acts = PaymentActivities(gateway)
    reconciliation = ReconciliationActivities(gateway, ledger)
    await ensure_reconciliation_schedule(client, settings)
    await make_current_if_none(client, settings)
    return OwningWorker(
        client,
        closing=[engine.dispose, stripe_api.close],
        task_queue=PAYMENTS_QUEUE,
        workflows=[PaymentWorkflow, ReconciliationWorkflow],
        activities=[
            acts.authorize_payment,
            acts.capture_payment,
            acts.void_payment,
            acts.refund_payment,
            acts.refresh_payment,
            reconciliation.reconcile_payments,
        ],
        **worker_options(settings, PAYMENTS_QUEUE),
    )


if __name__ == "__main__":
    main(PAYMENTS_QUEUE, build)
