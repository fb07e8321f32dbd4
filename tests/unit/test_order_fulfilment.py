"""The order aggregate from shipment on: the capture that ships an order, delivery, and
refunds partial and full with their money rules (docs/orders.md)."""

from __future__ import annotations

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.commands import Audience, Notify
from domain.errors import CaptureFailed, InvalidTransition, RefundFailed, RefundTooLarge
from domain.lifecycle import PaymentStatus as P
from domain.orders import OrderStatus
from tests.unit.order_driving import (
    UNITS,
    Provider,
    S,
    act,
    eur,
    order_in,
    report,
    ship,
    unchanged,
)

SHIP = cmd.Ship("DHL", "JD0001")

# --- shipment: capture, then ship --------------------------------------------------------

ALL_UNITS = [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}]


def test_ship_asks_to_capture_the_authorization_and_changes_nothing_yet() -> None:
    order = order_in(S.CONFIRMED)
    check = unchanged(order)

    outcome = order.decide(SHIP)

    assert (outcome.events, outcome.effects) == ([], [cmd.Capture(3500, SHIP)])
    check()


def test_captured_payment_ships_the_order_and_commits_the_stock() -> None:
    order = order_in(S.CONFIRMED)

    outcome = ship(order)

    assert outcome.events == [
        ev.OrderShipped(carrier="DHL", tracking_number="JD0001", lines=ALL_UNITS),
        ev.PaymentCaptured(amount=3500),
        ev.StockCommitted(units=UNITS),
    ]
    assert outcome.effects == [
        cmd.Capture(3500, SHIP),
        Notify("order_shipped", Audience.CUSTOMER, 1),
        cmd.CommitStock(),
    ]
    assert order.status is S.SHIPPED
    assert order.shipment is not None
    assert (order.shipment.carrier, order.shipment.tracking_number) == ("DHL", "JD0001")
    assert (order.authorized, order.captured) == (3500, 3500)
    assert order.payment.status is P.CAPTURED


def test_capture_below_the_authorization_is_recorded() -> None:
    order = order_in(S.CONFIRMED)

    outcome = order.settle(cmd.Capture(3500, SHIP), report("captured", 3000))

    assert outcome.events[1] == ev.PaymentCaptured(amount=3000)
    assert order.captured == 3000


@pytest.mark.parametrize("amount", [3501, 0], ids=["above", "zero"])
def test_capture_outside_the_authorization_is_refused(amount: int) -> None:
    order = order_in(S.CONFIRMED)
    check = unchanged(order)

    with pytest.raises(InvalidTransition, match="exceeds the authorization"):
        order.settle(cmd.Capture(3500, SHIP), report("captured", amount))

    check()


@pytest.mark.parametrize(
    ("reason", "message"), [("card expired", "card expired"), (None, "capture failed")]
)
def test_refused_capture_leaves_the_order_confirmed(reason: str | None, message: str) -> None:
    order = order_in(S.CONFIRMED)
    check = unchanged(order)

    with pytest.raises(CaptureFailed, match=message):
        order.settle(cmd.Capture(3500, SHIP), report("capture_failed", reason=reason))

    check()
    assert order.status is S.CONFIRMED


def test_second_capture_of_a_shipped_order_is_refused() -> None:
    order = order_in(S.SHIPPED)
    check = unchanged(order)

    with pytest.raises(InvalidTransition, match="captured already"):
        order.settle(cmd.Capture(3500, SHIP), report("captured", 3500))

    check()


def test_an_effect_settled_with_the_wrong_result_is_refused() -> None:
    order = order_in(S.CONFIRMED)
    check = unchanged(order)

    with pytest.raises(InvalidTransition, match="cannot settle with"):
        order.settle(cmd.Capture(3500, SHIP), 3)

    check()


def test_delivering_a_shipped_order_marks_it_delivered() -> None:
    order = order_in(S.SHIPPED)

    outcome = act(order, cmd.Deliver())

    assert outcome.events == [ev.OrderDelivered()]
    assert outcome.effects == [Notify("order_delivered", Audience.CUSTOMER, 1)]
    assert order.status is S.DELIVERED
    assert order.payment.status is P.CAPTURED


# --- refunds ------------------------------------------------------------------------------

REFUNDABLE = [S.SHIPPED, S.DELIVERED]


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
def test_refund_asks_the_payment_and_changes_nothing_yet(start: OrderStatus) -> None:
    order = order_in(start)
    check = unchanged(order)

    outcome = order.decide(cmd.IssueRefund(1000))

    assert (outcome.events, outcome.effects) == ([], [cmd.Refund(1000, "refund")])
    check()


def test_refund_without_an_amount_asks_for_the_rest() -> None:
    order = order_in(S.DELIVERED)
    act(order, cmd.IssueRefund(500, "first"))
    check = unchanged(order)

    order.check(cmd.IssueRefund(None))
    outcome = order.decide(cmd.IssueRefund(None, "the rest"))

    assert outcome.effects == [cmd.Refund(3000, "the rest")]
    check()


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
def test_partial_refunds_keep_the_status_and_tell_the_customer_each_time(
    start: OrderStatus,
) -> None:
    order = order_in(start)

    first = act(order, cmd.IssueRefund(1000, "scratched"))
    second = act(order, cmd.IssueRefund(500, "dented"))

    assert first.events == [ev.RefundIssued(amount=1000, refunded_total=1000, reason="scratched")]
    assert second.events == [ev.RefundIssued(amount=500, refunded_total=1500, reason="dented")]
    assert first.effects[-1] == Notify("refund_issued", Audience.CUSTOMER, 1)
    assert second.effects[-1] == Notify("refund_issued", Audience.CUSTOMER, 2)
    assert order.status is start
    assert (order.refunded, order.refundable) == (1500, eur(2000))
    assert order.payment.status is P.PARTIALLY_REFUNDED


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
@pytest.mark.parametrize("first", [0, 1000])
@pytest.mark.parametrize("amount", [None, "rest"], ids=["no-amount", "the-rest"])
def test_refunding_everything_captured_ends_the_order_as_refunded(
    start: OrderStatus, first: int, amount: str | None
) -> None:
    order = order_in(start)
    if first:
        act(order, cmd.IssueRefund(first, "first"))

    outcome = act(order, cmd.IssueRefund(3500 - first if amount else None, "lost"))

    assert outcome.events == [
        ev.RefundIssued(amount=3500 - first, refunded_total=3500, reason="lost"),
        ev.OrderRefunded(),
    ]
    assert order.status is S.REFUNDED
    assert order.status.is_final
    assert order.refundable == eur(0)
    assert order.payment.status is P.REFUNDED


def test_full_refund_of_a_partial_capture_returns_only_what_was_captured() -> None:
    order = order_in(S.CONFIRMED)
    order.settle(cmd.Capture(3500, SHIP), report("captured", 3000))

    outcome = act(order, cmd.IssueRefund(None, "all of it"))

    assert outcome.events[0] == ev.RefundIssued(
        amount=3000, refunded_total=3000, reason="all of it"
    )
    assert order.status is S.REFUNDED


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
@pytest.mark.parametrize(
    ("already", "amount", "refusal"),
    [
        (0, 3501, r"refund 35\.01 EUR exceeds the refundable 35\.00 EUR"),
        (1000, 2501, r"refund 25\.01 EUR exceeds the refundable 25\.00 EUR"),
        (0, 0, "a refund must be a positive amount"),
        (0, -100, "a refund must be a positive amount"),
    ],
    ids=["more-than-captured", "more-than-the-rest", "zero", "negative"],
)
def test_refund_over_the_refundable_amount_is_refused(
    start: OrderStatus, already: int, amount: int, refusal: str
) -> None:
    order = order_in(start)
    if already:
        act(order, cmd.IssueRefund(already, "first"))
    check = unchanged(order)

    for ask in (order.check, order.decide):
        with pytest.raises(RefundTooLarge, match=refusal):
            ask(cmd.IssueRefund(amount, "too much"))

    check()


def test_refused_refund_changes_nothing() -> None:
    order = order_in(S.DELIVERED)
    check = unchanged(order)

    with pytest.raises(RefundFailed, match="refund failed by the provider"):
        act(order, cmd.IssueRefund(1000), Provider(refuses=True))

    check()


@pytest.mark.parametrize("amount", [100, None])
def test_refund_before_capture_is_refused(amount: int | None) -> None:
    order = order_in(S.CONFIRMED)

    with pytest.raises(InvalidTransition, match="nothing captured to refund while confirmed"):
        order.check(cmd.IssueRefund(amount, "early"))


def test_refunds_are_refused_once_the_refund_window_closed() -> None:
    order = order_in(S.DELIVERED)

    assert order.time_out().events == []

    assert order.closed
    assert order.status is S.DELIVERED
    with pytest.raises(InvalidTransition, match="the refund window has closed"):
        order.check(cmd.IssueRefund(100))
