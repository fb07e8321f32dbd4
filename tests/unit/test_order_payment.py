"""The order aggregate and its payment's authorization reports: 3-D Secure, the review
threshold, declines and expiry, refused reports, and the reports that still come after a
cancel (the void asked of a payment in flight, a late authorization voided)."""

from __future__ import annotations

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.commands import Audience, Notify
from domain.errors import InvalidTransition
from domain.lifecycle import Payment
from domain.lifecycle import PaymentStatus as P
from domain.orders import OrderStatus
from tests.unit.order_driving import (
    INTENT,
    NOW,
    THRESHOLD,
    TOTAL,
    UNITS,
    Provider,
    S,
    act,
    authorize,
    effects_of,
    eur,
    line,
    order_in,
    perform,
    place,
    report,
    unchanged,
)

# --- authorization reports ------------------------------------------------------------


def test_payment_needing_customer_action_waits_for_3d_secure() -> None:
    order = place()

    outcome = order.authorization_reported(
        report("action_required", client_secret="sec_1"), THRESHOLD, NOW
    )

    assert outcome.events == [ev.PaymentActionRequired()]
    assert outcome.effects == [Notify("payment_action_required", Audience.CUSTOMER, 1)]
    assert not outcome.settled
    assert order.status is S.PAYMENT_ACTION_REQUIRED
    assert order.payment.status is P.ACTION_REQUIRED
    assert order.payment.client_secret == "sec_1"
    assert order.payment.intent_id == INTENT


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED], ids=str)
def test_authorization_below_review_threshold_confirms_the_order(start: OrderStatus) -> None:
    order = order_in(start)

    outcome = authorize(order, threshold=TOTAL.amount + 1)

    assert outcome.events == [ev.PaymentAuthorized(amount=3500), ev.OrderConfirmed()]
    assert outcome.effects == [Notify("order_confirmed", Audience.CUSTOMER, 1)]
    assert outcome.settled
    assert order.status is S.CONFIRMED
    assert order.authorized == 3500
    assert order.authorized_at == NOW
    assert order.payment.status is P.AUTHORIZED
    assert order.payment.client_secret is None  # the customer has nothing left to do


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED], ids=str)
@pytest.mark.parametrize("threshold", [3500, 3499], ids=["total-equals", "total-above"])
def test_authorization_at_or_above_review_threshold_tells_the_operator(
    start: OrderStatus, threshold: int
) -> None:
    order = order_in(start)

    outcome = authorize(order, threshold=threshold)

    assert outcome.events == [ev.PaymentAuthorized(amount=3500), ev.ReviewRequired(total=3500)]
    assert outcome.effects == [Notify("review_required", Audience.OPERATOR, 1)]
    assert order.status is S.UNDER_REVIEW
    assert order.payment.status is P.AUTHORIZED


def test_order_totalling_exactly_the_default_threshold_goes_to_review() -> None:
    order = place([line("SKU-1", 2, eur(50_000))])
    authorize(order)
    assert order.status is S.UNDER_REVIEW


@pytest.mark.parametrize("amount", [3499, 3501], ids=["less", "more"])
def test_authorization_of_an_amount_other_than_the_total_is_refused(amount: int) -> None:
    order = place()
    check = unchanged(order)

    with pytest.raises(InvalidTransition, match=r"but the order totals 35\.00 EUR"):
        order.authorization_reported(report("authorized", amount), THRESHOLD, NOW)

    check()


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED], ids=str)
def test_declined_payment_ends_the_order_and_releases_the_stock(start: OrderStatus) -> None:
    order = order_in(start)

    outcome = perform(
        order, order.authorization_reported(report("failed", reason="card_declined"), 1, NOW)
    )

    assert outcome.events == [ev.PaymentFailed(reason="card_declined"), ev.StockReleased(UNITS)]
    assert outcome.effects == [Notify("payment_failed", Audience.CUSTOMER, 1), cmd.ReleaseStock()]
    assert outcome.settled
    assert order.status is S.PAYMENT_FAILED
    assert order.status.is_final
    assert order.payment.status is P.FAILED


def test_payment_failing_without_a_reason_says_payment_failed() -> None:
    order = place()
    outcome = order.authorization_reported(report("failed"), THRESHOLD, NOW)
    assert outcome.events == [ev.PaymentFailed(reason="payment failed")]


def test_3d_secure_expiring_cancels_the_order_by_the_system() -> None:
    order = order_in(S.PAYMENT_ACTION_REQUIRED)

    outcome = perform(order, order.authorization_reported(report("expired"), THRESHOLD, NOW))

    assert outcome.events == [
        ev.OrderCancelled(reason="payment action timed out", by="system"),
        ev.StockReleased(UNITS),
    ]
    assert outcome.effects == [Notify("order_cancelled", Audience.CUSTOMER, 1), cmd.ReleaseStock()]
    assert order.status is S.CANCELLED
    assert order.payment.status is P.EXPIRED  # ended by itself: nothing to void


@pytest.mark.parametrize(
    ("kind", "refusal"),
    [
        ("authorized", "cannot settle the payment of an order that is confirmed"),
        ("failed", "cannot settle the payment of an order that is confirmed"),
        ("action_required", "cannot require payment action an order that is confirmed"),
    ],
)
def test_authorization_report_after_the_authorization_is_refused(kind: str, refusal: str) -> None:
    order = order_in(S.CONFIRMED)

    with pytest.raises(InvalidTransition, match=refusal):
        order.authorization_reported(report(kind, 3500), THRESHOLD, NOW)


def test_refused_authorization_report_keeps_the_payments_intent() -> None:
    order = order_in(S.CONFIRMED)
    check = unchanged(order)

    with pytest.raises(InvalidTransition):
        order.authorization_reported(report("authorized", 3500, intent_id="pi_2"), 1, NOW)

    check()


# --- a cancel while the payment authorizes, and the reports that come after -------------


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED], ids=str)
def test_cancel_while_authorizing_asks_the_payment_to_void(start: OrderStatus) -> None:
    order = order_in(start)

    outcome = act(order, cmd.Cancel("changed my mind"))

    assert outcome.effects == [
        Notify("order_cancelled", Audience.CUSTOMER, 1),
        cmd.ReleaseStock(),
        cmd.RequestVoid(),
    ]
    assert order.payment.void_requested
    assert order.payment.in_flight


def test_authorization_after_a_requested_void_waits_for_the_voids_outcome() -> None:
    order = order_in(S.ACCEPTED)
    act(order, cmd.Cancel("changed my mind"))
    check = unchanged(order, learns_intent=INTENT)

    outcome = order.authorization_reported(report("authorized", 3500), THRESHOLD, NOW)

    assert (outcome.events, outcome.effects, outcome.settled) == ([], [], False)
    check()
    voided = order.authorization_reported(report("voided"), THRESHOLD, NOW)
    assert (voided.events, voided.settled) == ([ev.PaymentVoided()], True)
    assert order.status is S.CANCELLED
    assert order.payment.status is P.VOIDED


def test_authorization_after_a_cancel_whose_void_was_not_sent_is_voided() -> None:
    order = order_in(S.ACCEPTED)
    act(order, cmd.Cancel("changed my mind"), Provider(void_sent=False))

    late = order.authorization_reported(report("authorized", 3500), THRESHOLD, NOW)

    assert (late.events, late.effects, late.changed, late.settled) == ([], [cmd.Void()], True, True)
    assert order.payment.status is P.AUTHORIZED
    assert perform(order, late).events == [ev.PaymentVoided()]
    assert order.payment == Payment(P.VOIDED, INTENT)
    assert order.authorized == 0  # the order never took the money
    assert order.status is S.CANCELLED


@pytest.mark.parametrize(
    ("kind", "event", "payment"),
    [
        ("voided", ev.PaymentVoided(), P.VOIDED),
        ("void_failed", ev.PaymentVoidFailed(reason="too late"), P.VOID_FAILED),
        ("failed", None, P.FAILED),
        ("expired", None, P.EXPIRED),
    ],
)
def test_late_outcome_after_a_cancel_settles_the_payment_only(
    kind: str, event: ev.DomainEvent | None, payment: P
) -> None:
    order = order_in(S.PAYMENT_ACTION_REQUIRED)
    act(order, cmd.Cancel("changed my mind"))

    outcome = order.authorization_reported(report(kind, reason="too late"), THRESHOLD, NOW)

    assert outcome.events == ([event] if event else [])
    assert outcome.settled
    assert outcome.changed or outcome.events
    assert order.status is S.CANCELLED
    assert order.payment.status is payment


def test_late_3d_secure_request_after_a_cancel_waits_for_more() -> None:
    order = order_in(S.ACCEPTED)
    act(order, cmd.Cancel("changed my mind"))
    check = unchanged(order, learns_intent=INTENT)

    outcome = order.authorization_reported(report("action_required"), THRESHOLD, NOW)

    assert (outcome.events, outcome.effects, outcome.settled) == ([], [], False)
    check()


def test_cancel_before_the_payment_started_only_releases_the_stock() -> None:
    order = place(started=False)
    outcome = act(order, cmd.Cancel("changed my mind"))
    assert effects_of(outcome, cmd.ReleaseStock) == [cmd.ReleaseStock()]
    assert not effects_of(outcome, cmd.Void) + effects_of(outcome, cmd.RequestVoid)
