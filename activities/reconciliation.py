"""The reconciliation activity (task queue `payments`): the ledger versus the payment
provider, through the payment port (`domain/payments.py`)."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from domain.payments import PaymentGateway
from domain.reconciliation import ReconciliationLedger, find_mismatches


class ReconcileInput(BaseModel):
    """Nothing to choose yet: every intent of the account against the whole ledger."""


class ReconcileResult(BaseModel):
    report_id: str
    checked: int
    mismatches: int


class ReconciliationActivities:
    def __init__(self, gateway: PaymentGateway, store: ReconciliationLedger) -> None:
        self._gateway = gateway
        self._store = store

    @activity.defn
    async def reconcile_payments(self, inp: ReconcileInput) -> ReconcileResult:
        """Compare and record a report; safe to retry (a retry writes a newer report)."""
        intents = await self._gateway.all_intents()
        ledger = await self._store.ledger()
        mismatches = find_mismatches(ledger, intents)
        report_id = await self._store.save(len(intents), mismatches)
        activity.logger.info("reconciled %d intents, %d mismatches", len(intents), len(mismatches))
        return ReconcileResult(
            report_id=report_id, checked=len(intents), mismatches=len(mismatches)
        )
