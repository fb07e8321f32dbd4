"""Reconciliation rules, ledger versus the payment provider."""

from __future__ import annotations

import pytest

from domain.payments import IntentState, IntentStatus
from domain.reconciliation import LedgerEntry, find_mismatches


def entry(status: str, total: int = 1000, intent: str | None = "pi_1") -> LedgerEntry:
    return LedgerEntry("ord_1", status, total, "EUR", intent)


AUTHORIZED, CAPTURED, VOIDED = IntentStatus.AUTHORIZED, IntentStatus.CAPTURED, IntentStatus.VOIDED


def intent(status: IntentStatus, amount: int = 1000, order_id: str | None = "ord_1") -> IntentState:
    return IntentState("pi_1", status, amount, "EUR", order_id=order_id)


@pytest.mark.parametrize(
    ("ledger_status", "provider_status"),
    [
        ("confirmed", AUTHORIZED),
        ("partially_shipped", CAPTURED),
        ("shipped", CAPTURED),
        ("delivered", CAPTURED),
        ("refunded", CAPTURED),
        ("cancelled", VOIDED),
        ("payment_failed", VOIDED),
    ],
)
def test_agreeing_ledger_and_provider_have_no_mismatch(
    ledger_status: str, provider_status: IntentStatus
) -> None:
    assert find_mismatches([entry(ledger_status)], [intent(provider_status)]) == []


@pytest.mark.parametrize(
    ("ledger_status", "provider_status", "kind"),
    [
        ("confirmed", CAPTURED, "captured_not_shipped"),
        ("shipped", AUTHORIZED, "shipped_not_captured"),
        ("cancelled", AUTHORIZED, "authorization_held"),
        ("confirmed", VOIDED, "authorization_lost"),
    ],
)
def test_status_disagreements_are_reported(
    ledger_status: str, provider_status: IntentStatus, kind: str
) -> None:
    [found] = find_mismatches([entry(ledger_status)], [intent(provider_status)])
    assert (found.kind, found.order_id, found.payment_intent_id) == (kind, "ord_1", "pi_1")


def test_amount_mismatch_is_reported() -> None:
    [found] = find_mismatches([entry("confirmed")], [intent(AUTHORIZED, amount=999)])
    assert found.kind == "amount_mismatch"


def test_an_intent_the_ledger_lost_and_an_intent_the_provider_lost_are_reported() -> None:
    lost = find_mismatches([entry("confirmed", intent="pi_other")], [intent(AUTHORIZED)])
    assert sorted(m.kind for m in lost) == ["missing_at_provider", "untracked_intent"]


def test_intents_of_other_systems_are_ignored() -> None:
    assert find_mismatches([], [intent(CAPTURED, order_id=None)]) == []


def test_an_edited_order_is_compared_with_what_the_provider_held_not_its_new_total() -> None:
    edited = LedgerEntry("ord_1", "shipped", 600, "EUR", "pi_1", authorized=1000)

    assert find_mismatches([edited], [intent(CAPTURED, amount=1000)]) == []
    assert [m.kind for m in find_mismatches([edited], [intent(CAPTURED, amount=600)])] == [
        "amount_mismatch"
    ]
