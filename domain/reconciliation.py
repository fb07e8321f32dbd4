"""Reconciliation rules: where the payment ledger and the payment provider disagree.

The ledger is what the orders read model says about each order's payment intent; the
provider's side is what the payment port (`domain/payments.py`) answers. Every disagreement
is a `Mismatch` an operator has to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.lifecycle import OrderStatus
from domain.payments import IntentState, IntentStatus

_CAPTURED_STATUSES = {
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.REFUNDED,
}
_RELEASED_STATUSES = {OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED}
_HOLDING_STATUSES = {OrderStatus.CONFIRMED, OrderStatus.UNDER_REVIEW}
_TAKEN = {IntentStatus.AUTHORIZED, IntentStatus.CAPTURED}
"""Intents that hold or took a customer's money."""


@dataclass(frozen=True)
class LedgerEntry:
    order_id: str
    status: str
    total: int
    currency: str
    payment_intent_id: str | None
    authorized: int = 0
    """What the provider held for the order; an edit lowers `total` below it (the capture
    takes the new total and the provider releases the rest)."""


@dataclass(frozen=True)
class Mismatch:
    """One disagreement; `kind` is a stable slug."""

    kind: str
    order_id: str | None
    payment_intent_id: str | None
    detail: str


class ReconciliationLedger(Protocol):
    """Where reconciliation reads the ledger and keeps its reports (the orders read model
    and its report table, `adapters/reconciliation_store.py`)."""

    async def ledger(self) -> list[LedgerEntry]: ...

    async def save(self, checked: int, mismatches: list[Mismatch]) -> str:
        """Keep one run's report; answers its id."""
        ...


def find_mismatches(ledger: list[LedgerEntry], intents: list[IntentState]) -> list[Mismatch]:
    """Compare every intent the provider holds for our orders with the ledger, and the
    reverse."""
    by_order = {entry.order_id: entry for entry in ledger}
    by_intent = {e.payment_intent_id: e for e in ledger if e.payment_intent_id}
    found: list[Mismatch] = []
    for intent in intents:
        entry = by_intent.get(intent.id)
        if entry is None:
            if intent.order_id in by_order and intent.status in _TAKEN:
                found.append(
                    Mismatch(
                        "untracked_intent",
                        intent.order_id,
                        intent.id,
                        f"the provider holds a {intent.status} intent the ledger does not know",
                    )
                )
            continue
        found.extend(_compare(entry, intent))
    provider_ids = {intent.id for intent in intents}
    for entry in ledger:
        if entry.payment_intent_id and entry.payment_intent_id not in provider_ids:
            found.append(
                Mismatch(
                    "missing_at_provider",
                    entry.order_id,
                    entry.payment_intent_id,
                    "the ledger's intent is unknown to the provider",
                )
            )
    return found


def _compare(entry: LedgerEntry, intent: IntentState) -> list[Mismatch]:
    def mismatch(kind: str, detail: str) -> Mismatch:
        return Mismatch(kind, entry.order_id, intent.id, detail)

    found = []
    held = entry.authorized or entry.total
    if intent.amount != held or intent.currency.upper() != entry.currency.upper():
        found.append(
            mismatch(
                "amount_mismatch",
                f"the provider {intent.amount} {intent.currency},"
                f" the ledger {held} {entry.currency}",
            )
        )
    if intent.status == IntentStatus.CAPTURED and entry.status not in _CAPTURED_STATUSES:
        found.append(
            mismatch(
                "captured_not_shipped",
                f"captured by the provider but the order is {entry.status}",
            )
        )
    if entry.status in _CAPTURED_STATUSES and intent.status != IntentStatus.CAPTURED:
        found.append(
            mismatch(
                "shipped_not_captured",
                f"the order is {entry.status} but the provider says {intent.status}",
            )
        )
    if entry.status in _RELEASED_STATUSES and intent.status == IntentStatus.AUTHORIZED:
        found.append(
            mismatch(
                "authorization_held", f"the order is {entry.status} but the authorization is held"
            )
        )
    if entry.status in _HOLDING_STATUSES and intent.status == IntentStatus.VOIDED:
        found.append(
            mismatch(
                "authorization_lost",
                f"the order is {entry.status} but the provider voided the intent",
            )
        )
    return found
