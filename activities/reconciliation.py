"""The reconciliation activity (task queue `payments`): ledger versus Stripe."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from adapters.reconciliation_store import ReconciliationStore
from adapters.stripe_gateway import StripeGateway
from domain.reconciliation import StripeIntent, find_mismatches


class ReconcileInput(BaseModel):
    """Nothing to choose yet: every intent of the account against the whole ledger."""


class ReconcileResult(BaseModel):
    report_id: str
    checked: int
    mismatches: int


class ReconciliationActivities:
    def __init__(self, gateway: StripeGateway, store: ReconciliationStore) -> None:
        self._gateway = gateway
        self._store = store

    @activity.defn
    async def reconcile_payments(self, inp: ReconcileInput) -> ReconcileResult:
        """Compare and record a report; safe to retry (a retry writes a newer report)."""
        intents = [
            StripeIntent(s.id, s.order_id, s.status, s.amount, s.currency)
            for s in await self._gateway.all_intents()
        ]
        ledger = await self._store.ledger()
        mismatches = find_mismatches(ledger, intents)
        report_id = await self._store.save(len(intents), mismatches)
        activity.logger.info("reconciled %d intents, %d mismatches", len(intents), len(mismatches))
        return ReconcileResult(
            report_id=report_id, checked=len(intents), mismatches=len(mismatches)
        )
