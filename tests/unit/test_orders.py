"""The order aggregate's own decisions before shipment: placing an order (lines, limits,
currencies), review, cancellation and its compensation, and the text a command may carry
(docs/orders.md). The payment's reports are in test_order_payment.py, shipment and refunds
in test_order_fulfilment.py, timers and the command table in test_order_timers.py, the
invariants over random sequences in test_order_properties.py."""

from __future__ import annotations

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.commands import Audience, Notify
from domain.errors import CurrencyMismatch, InvalidOrder, InvalidTransition, UnstorableText
from domain.lifecycle import PaymentStatus as P
from domain.money import Money
from domain.orders import Order, OrderStatus
from tests.unit.order_driving import (
    ADDRESS,
    TOTAL,
    UNITS,
    Provider,
    S,
    act,
    default_lines,
    eur,
    line,
    order_in,
    place,
    report,
    unchanged,
)

# --- Order.place ----------------------------------------------------------------------


def test_placed_order_is_accepted_and_tells_the_customer() -> None:
    order, outcome = Order.place("ord-1", "cus-1", default_lines(), ADDRESS)

    assert order.status is S.ACCEPTED
    assert order.total == TOTAL
    assert order.currency == "EUR"
    assert (order.authorized, order.captured, order.refunded) == (0, 0, 0)
    assert order.shipment is None
    assert order.payment.status is P.PENDING
    assert order.events == outcome.events == [ev.OrderAccepted(total=3500, currency="EUR")]
    assert outcome.effects == [Notify("order_accepted", Audience.CUSTOMER, 1)]


def test_starting_the_payment_makes_it_authorizing() -> None:
    order = place(started=False)

    order.payment_started()

    assert order.payment.status is P.AUTHORIZING
    assert order.payment.in_flight


def test_line_total_is_unit_price_times_quantity() -> None:
    assert line(quantity=3, unit_price=eur(1999)).total == eur(5997)


def test_placed_order_keeps_its_own_copy_of_the_lines() -> None:
    lines = default_lines()
    order = place(lines)
    lines.append(line("SKU-3"))
    assert [ln.sku for ln in order.lines] == ["SKU-1", "SKU-2"]


def test_order_without_lines_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="at least one line"):
        place([])


def test_order_with_more_than_100_lines_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="at most 100 lines"):
        place([line(f"SKU-{i}") for i in range(101)])


def test_order_with_exactly_100_lines_is_accepted() -> None:
    order = place([line(f"SKU-{i}") for i in range(100)])
    assert len(order.lines) == 100
    assert order.total == eur(150_000)


def test_order_with_the_same_sku_on_two_lines_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="one line only"):
        place([line("SKU-1", 1), line("SKU-2", 1), line("SKU-1", 2)])


@pytest.mark.parametrize("quantity", [0, 101, -1], ids=["zero", "101", "negative"])
def test_line_quantity_outside_1_to_100_is_refused(quantity: int) -> None:
    with pytest.raises(InvalidOrder, match=f"between 1 and 100, got {quantity}"):
        place([line("SKU-1", 1), line("SKU-2", quantity)])


@pytest.mark.parametrize("quantity", [1, 100])
def test_line_quantity_at_the_bounds_is_accepted(quantity: int) -> None:
    assert place([line("SKU-1", quantity)]).lines[0].quantity == quantity


def test_order_mixing_currencies_is_refused_with_currency_mismatch() -> None:
    with pytest.raises(CurrencyMismatch, match="lines mix currencies: EUR, USD"):
        place([line("SKU-1", 1, eur(100)), line("SKU-2", 1, Money(100, "USD"))])


def test_non_ascii_currency_code_is_rejected() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(1, "ÄÖÜ")


# --- review ---------------------------------------------------------------------------


def test_approving_an_order_under_review_confirms_it() -> None:
    order = order_in(S.UNDER_REVIEW)

    outcome = act(order, cmd.Approve("looks fine"))

    assert outcome.events == [ev.OrderApproved(), ev.OrderConfirmed()]
    assert outcome.effects == [Notify("order_confirmed", Audience.CUSTOMER, 1)]
    assert order.status is S.CONFIRMED
    assert order.payment.status is P.AUTHORIZED


@pytest.mark.parametrize(
    ("reason", "recorded"), [("looks fraudulent", "looks fraudulent"), ("", "rejected by operator")]
)
def test_rejecting_an_order_under_review_cancels_it_by_the_operator(
    reason: str, recorded: str
) -> None:
    order = order_in(S.UNDER_REVIEW)

    outcome = act(order, cmd.Reject(reason))

    assert outcome.events == [
        ev.OrderCancelled(reason=recorded, by="operator"),
        ev.StockReleased(UNITS),
        ev.PaymentVoided(),
    ]
    assert order.status is S.CANCELLED
    assert order.cancel_reason == recorded


# --- cancellation ---------------------------------------------------------------------

CANCELLABLE = [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED, S.UNDER_REVIEW, S.CONFIRMED]


@pytest.mark.parametrize("start", CANCELLABLE, ids=str)
@pytest.mark.parametrize("by", ["customer", "operator"])
def test_order_not_yet_shipped_can_be_cancelled(start: OrderStatus, by: str) -> None:
    order = order_in(start)
    authorized = order.payment.status is P.AUTHORIZED
    order.check(cmd.Cancel("changed my mind", by))

    outcome = order.decide(cmd.Cancel("changed my mind", by))

    assert outcome.events == [ev.OrderCancelled(reason="changed my mind", by=by)]
    assert outcome.effects == [
        Notify("order_cancelled", Audience.CUSTOMER, 1),
        cmd.ReleaseStock(),
        cmd.Void() if authorized else cmd.RequestVoid(),
    ]
    assert order.status is S.CANCELLED
    assert order.cancel_reason == "changed my mind"


@pytest.mark.parametrize("start", [S.UNDER_REVIEW, S.CONFIRMED], ids=str)
def test_cancel_releases_the_stock_then_voids_the_authorization(start: OrderStatus) -> None:
    order = order_in(start)

    outcome = act(order, cmd.Cancel("changed my mind"))

    assert outcome.events[1:] == [ev.StockReleased(UNITS), ev.PaymentVoided()]
    assert order.payment.status is P.VOIDED


def test_refused_void_is_recorded_and_the_order_stays_cancelled() -> None:
    order = order_in(S.CONFIRMED)

    outcome = act(order, cmd.Cancel("changed my mind"), Provider(refuses=True))

    assert outcome.events[-1] == ev.PaymentVoidFailed(reason="void failed by the provider")
    assert order.status is S.CANCELLED
    assert order.payment.status is P.VOID_FAILED


def test_void_refused_without_a_reason_says_void_refused() -> None:
    order = order_in(S.CONFIRMED)
    order.decide(cmd.Cancel())
    outcome = order.settle(cmd.Void(), report("void_failed"))
    assert outcome.events == [ev.PaymentVoidFailed(reason="void refused")]


@pytest.mark.parametrize("start", [s for s in S if s not in CANCELLABLE], ids=str)
def test_cancel_once_shipped_or_final_is_not_cancellable(start: OrderStatus) -> None:
    order = order_in(start)
    check = unchanged(order)

    for ask in (order.check, order.decide):
        with pytest.raises(InvalidTransition, match=f"an order that is {start} cannot be cancel"):
            ask(cmd.Cancel("too late"))

    check()


# --- the text a command carries -------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        (cmd.Cancel("a\x00b"), "reason holds U\\+0000"),
        (cmd.Cancel("ok", by="cus\ntomer"), "by holds U\\+000A"),
        (cmd.Reject("\x7f"), "reason holds U\\+007F"),
        (cmd.Ship("DHL\n", "JD1"), "carrier holds U\\+000A"),
        (cmd.Ship("DHL", "JD\ud800"), "tracking_number holds U\\+D800"),
    ],
)
def test_command_with_text_that_cannot_be_stored_is_refused(
    command: cmd.Command, refusal: str
) -> None:
    order = order_in(S.UNDER_REVIEW)
    check = unchanged(order)

    with pytest.raises(UnstorableText, match=refusal):
        order.check(command)
    with pytest.raises(UnstorableText, match=refusal):
        order.decide(command)

    check()


def test_a_reason_may_span_lines() -> None:
    order = order_in(S.CONFIRMED)
    act(order, cmd.Cancel("line one\r\n\tline two"))
    assert order.cancel_reason == "line one\r\n\tline two"
