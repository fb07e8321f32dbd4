"""Reconciliation rules, ledger versus Stripe."""

from __future__ import annotations

import pytest

from domain.reconciliation import LedgerEntry, StripeIntent, find_mismatches


def entry(status: str, total: int = 1000, intent: str | None = "pi_1") -> LedgerEntry:
    return LedgerEntry("ord_1", status, total, "EUR", intent)


def intent(status: str, amount: int = 1000, order_id: str | None = "ord_1") -> StripeIntent:
    return StripeIntent("pi_1", order_id, status, amount, "eur")


@pytest.mark.parametrize(
    ("ledger_status", "stripe_status"),
    [
        ("confirmed", "requires_capture"),
        ("shipped", "succeeded"),
        ("delivered", "succeeded"),
        ("refunded", "succeeded"),
        ("cancelled", "canceled"),
        ("payment_failed", "canceled"),
    ],
)
def test_agreeing_ledger_and_stripe_have_no_mismatch(
    ledger_status: str, stripe_status: str
) -> None:
    assert find_mismatches([entry(ledger_status)], [intent(stripe_status)]) == []


@pytest.mark.parametrize(
    ("ledger_status", "stripe_status", "kind"),
    [
        ("confirmed", "succeeded", "captured_not_shipped"),
        ("shipped", "requires_capture", "shipped_not_captured"),
        ("cancelled", "requires_capture", "authorization_held"),
        ("confirmed", "canceled", "authorization_lost"),
    ],
)
def test_status_disagreements_are_reported(
    ledger_status: str, stripe_status: str, kind: str
) -> None:
    [found] = find_mismatches([entry(ledger_status)], [intent(stripe_status)])
    assert (found.kind, found.order_id, found.payment_intent_id) == (kind, "ord_1", "pi_1")


def test_amount_mismatch_is_reported() -> None:
    [found] = find_mismatches([entry("confirmed")], [intent("requires_capture", amount=999)])
    assert found.kind == "amount_mismatch"


def test_an_intent_the_ledger_lost_and_an_intent_stripe_lost_are_reported() -> None:
    lost = find_mismatches([entry("confirmed", intent="pi_other")], [intent("requires_capture")])
    assert sorted(m.kind for m in lost) == ["missing_in_stripe", "untracked_intent"]


def test_intents_of_other_systems_are_ignored() -> None:
    assert find_mismatches([], [intent("succeeded", order_id=None)]) == []
