"""Reconciliation rules: where the payment ledger and Stripe disagree.

The ledger is what the orders read model says about each order's PaymentIntent; Stripe is
what Stripe says. Every disagreement is a `Mismatch` an operator has to look at.
"""

from __future__ import annotations

from dataclasses import dataclass

_CAPTURED_STATUSES = {"shipped", "delivered", "refunded"}
_RELEASED_STATUSES = {"cancelled", "payment_failed"}
_HOLDING_STATUSES = {"confirmed", "under_review"}


@dataclass(frozen=True)
class LedgerEntry:
    order_id: str
    status: str
    total: int
    currency: str
    payment_intent_id: str | None


@dataclass(frozen=True)
class StripeIntent:
    id: str
    order_id: str | None
    status: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Mismatch:
    """One disagreement; `kind` is a stable slug."""

    kind: str
    order_id: str | None
    payment_intent_id: str | None
    detail: str


def find_mismatches(ledger: list[LedgerEntry], intents: list[StripeIntent]) -> list[Mismatch]:
    """Compare every intent Stripe holds for our orders with the ledger, and the reverse."""
    by_order = {entry.order_id: entry for entry in ledger}
    by_intent = {e.payment_intent_id: e for e in ledger if e.payment_intent_id}
    found: list[Mismatch] = []
    for intent in intents:
        entry = by_intent.get(intent.id)
        if entry is None:
            if intent.order_id in by_order and intent.status in {"requires_capture", "succeeded"}:
                found.append(
                    Mismatch(
                        "untracked_intent",
                        intent.order_id,
                        intent.id,
                        f"Stripe holds a {intent.status} intent the ledger does not know",
                    )
                )
            continue
        found.extend(_compare(entry, intent))
    stripe_ids = {intent.id for intent in intents}
    for entry in ledger:
        if entry.payment_intent_id and entry.payment_intent_id not in stripe_ids:
            found.append(
                Mismatch(
                    "missing_in_stripe",
                    entry.order_id,
                    entry.payment_intent_id,
                    "the ledger's intent is unknown to Stripe",
                )
            )
    return found


def _compare(entry: LedgerEntry, intent: StripeIntent) -> list[Mismatch]:
    def mismatch(kind: str, detail: str) -> Mismatch:
        return Mismatch(kind, entry.order_id, intent.id, detail)

    found = []
    if intent.amount != entry.total or intent.currency.upper() != entry.currency.upper():
        found.append(
            mismatch(
                "amount_mismatch",
                f"Stripe {intent.amount} {intent.currency}, ledger {entry.total} {entry.currency}",
            )
        )
    if intent.status == "succeeded" and entry.status not in _CAPTURED_STATUSES:
        found.append(
            mismatch("captured_not_shipped", f"captured in Stripe but the order is {entry.status}")
        )
    if entry.status in _CAPTURED_STATUSES and intent.status != "succeeded":
        found.append(
            mismatch(
                "shipped_not_captured",
                f"the order is {entry.status} but Stripe says {intent.status}",
            )
        )
    if entry.status in _RELEASED_STATUSES and intent.status == "requires_capture":
        found.append(
            mismatch(
                "authorization_held", f"the order is {entry.status} but the authorization is held"
            )
        )
    if entry.status in _HOLDING_STATUSES and intent.status == "canceled":
        found.append(
            mismatch(
                "authorization_lost", f"the order is {entry.status} but Stripe cancelled the intent"
            )
        )
    return found
