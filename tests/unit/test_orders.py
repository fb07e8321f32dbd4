"""The order aggregate: placing an order and every status transition of docs/orders.md."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from domain import events as ev
from domain.errors import (
    CurrencyMismatch,
    InvalidOrder,
    InvalidTransition,
    NotCancellable,
    RefundTooLarge,
)
from domain.money import Money
from domain.orders import Address, Order, OrderLine, OrderStatus

S = OrderStatus
THRESHOLD = 100_000  # the default REVIEW_THRESHOLD, in minor units
ADDRESS = Address(
    name="Ada Lovelace", line1="1 Main St", city="Berlin", postal_code="10115", country="DE"
)


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def line(sku: str = "SKU-1", quantity: int = 1, unit_price: Money | None = None) -> OrderLine:
    return OrderLine(
        sku=sku, name=f"Product {sku}", quantity=quantity, unit_price=unit_price or eur(1500)
    )


def default_lines() -> list[OrderLine]:
    """Two lines totalling 3500 EUR cents, well below the review threshold."""
    return [line("SKU-1", 2, eur(1500)), line("SKU-2", 1, eur(500))]


TOTAL = eur(3500)


def place(lines: list[OrderLine] | None = None) -> Order:
    return Order.place("ord-1", "cus-1", default_lines() if lines is None else lines, ADDRESS)


# --- reaching each status through legal transitions only ------------------------------


def _confirm(order: Order) -> None:
    order.authorize(order.total, review_threshold=THRESHOLD)


def _ship_and_capture(order: Order) -> None:
    _confirm(order)
    order.ship("DHL", "JD0001")
    order.record_capture(order.total)


_PATHS: dict[OrderStatus, Callable[[Order], object]] = {
    S.ACCEPTED: lambda o: None,
    S.PAYMENT_ACTION_REQUIRED: lambda o: o.require_payment_action(),
    S.UNDER_REVIEW: lambda o: o.authorize(o.total, review_threshold=o.total.amount),
    S.CONFIRMED: _confirm,
    S.SHIPPED: _ship_and_capture,
    S.DELIVERED: lambda o: (_ship_and_capture(o), o.deliver()),
    S.PAYMENT_FAILED: lambda o: o.fail_payment("card_declined"),
    S.CANCELLED: lambda o: o.cancel("changed my mind", by="customer"),
    S.REFUNDED: lambda o: (_ship_and_capture(o), o.refund(o.total, "damaged")),
}


def order_in(status: OrderStatus) -> Order:
    """A placed order driven to `status`; shipped and delivered orders have been captured."""
    order = place()
    _PATHS[status](order)
    assert order.status is status
    return order


def unchanged(order: Order) -> Callable[[], None]:
    """Snapshot `order`; the returned check asserts nothing about it has changed."""
    before = copy.deepcopy(order)

    def check() -> None:
        assert order.status is before.status
        assert order.events == before.events
        assert order == before

    return check


# --- Order.place ----------------------------------------------------------------------


def test_placed_order_is_accepted_and_records_order_accepted_with_its_total() -> None:
    order = place()

    assert order.status is S.ACCEPTED
    assert order.total == TOTAL
    assert order.currency == "EUR"
    assert (order.authorized, order.captured, order.refunded) == (0, 0, 0)
    assert order.shipment is None
    assert order.events == [ev.OrderAccepted(total=3500, currency="EUR")]


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


@pytest.mark.parametrize(
    "quantity",
    [pytest.param(0, id="zero"), pytest.param(101, id="101"), pytest.param(-1, id="negative")],
)
def test_line_quantity_outside_1_to_100_is_refused(quantity: int) -> None:
    with pytest.raises(InvalidOrder, match="between 1 and 100"):
        place([line("SKU-1", 1), line("SKU-2", quantity)])


@pytest.mark.parametrize("quantity", [pytest.param(1, id="one"), pytest.param(100, id="100")])
def test_line_quantity_at_the_bounds_is_accepted(quantity: int) -> None:
    assert place([line("SKU-1", quantity)]).lines[0].quantity == quantity


def test_order_mixing_currencies_is_refused_with_currency_mismatch() -> None:
    with pytest.raises(CurrencyMismatch, match="EUR, USD"):
        place([line("SKU-1", 1, eur(100)), line("SKU-2", 1, Money(100, "USD"))])


# --- payment outcomes -------------------------------------------------------------------


def test_payment_needing_customer_action_moves_accepted_to_payment_action_required() -> None:
    order = place()

    new = order.require_payment_action()

    assert new == [ev.PaymentActionRequired()]
    assert order.status is S.PAYMENT_ACTION_REQUIRED
    assert order.events[-1:] == new


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED], ids=str)
def test_authorization_below_review_threshold_confirms_the_order(start: OrderStatus) -> None:
    order = order_in(start)

    new = order.authorize(TOTAL, review_threshold=TOTAL.amount + 1)

    assert new == [ev.PaymentAuthorized(amount=3500), ev.OrderConfirmed()]
    assert order.status is S.CONFIRMED
    assert order.authorized == 3500
    assert order.events[-2:] == new


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED], ids=str)
@pytest.mark.parametrize(
    "threshold",
    [
        pytest.param(3500, id="total-equals-threshold"),
        pytest.param(3499, id="total-above-threshold"),
    ],
)
def test_authorization_at_or_above_review_threshold_sends_the_order_to_review(
    start: OrderStatus, threshold: int
) -> None:
    order = order_in(start)

    new = order.authorize(TOTAL, review_threshold=threshold)

    assert new == [ev.PaymentAuthorized(amount=3500), ev.ReviewRequired(total=3500)]
    assert order.status is S.UNDER_REVIEW
    assert order.authorized == 3500
    assert order.events[-2:] == new


def test_order_totalling_exactly_the_default_threshold_goes_to_review() -> None:
    order = place([line("SKU-1", 2, eur(50_000))])

    order.authorize(eur(100_000), review_threshold=THRESHOLD)

    assert order.status is S.UNDER_REVIEW


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(eur(3499), id="less"),
        pytest.param(eur(3501), id="more"),
        pytest.param(Money(3500, "USD"), id="other-currency"),
    ],
)
def test_authorization_of_an_amount_other_than_the_total_is_refused(amount: Money) -> None:
    order = place()
    check = unchanged(order)

    with pytest.raises(InvalidTransition, match="totals"):
        order.authorize(amount, review_threshold=THRESHOLD)

    check()


@pytest.mark.parametrize("start", [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED], ids=str)
def test_failed_payment_ends_the_order_as_payment_failed(start: OrderStatus) -> None:
    order = order_in(start)

    new = order.fail_payment("card_declined")

    assert new == [ev.PaymentFailed(reason="card_declined")]
    assert order.status is S.PAYMENT_FAILED
    assert order.status.is_final
    assert order.events[-1:] == new


# --- review -----------------------------------------------------------------------------


def test_approving_an_order_under_review_confirms_it() -> None:
    order = order_in(S.UNDER_REVIEW)

    new = order.approve()

    assert new == [ev.OrderApproved(), ev.OrderConfirmed()]
    assert order.status is S.CONFIRMED
    assert order.events[-2:] == new


def test_rejecting_an_order_under_review_cancels_it_by_the_operator() -> None:
    order = order_in(S.UNDER_REVIEW)

    new = order.reject("looks fraudulent")

    assert new == [ev.OrderCancelled(reason="looks fraudulent", by="operator")]
    assert order.status is S.CANCELLED
    assert order.cancel_reason == "looks fraudulent"
    assert order.events[-1:] == new


# --- cancellation -----------------------------------------------------------------------

CANCELLABLE = [S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED, S.UNDER_REVIEW, S.CONFIRMED]


@pytest.mark.parametrize("start", CANCELLABLE, ids=str)
@pytest.mark.parametrize("by", ["customer", "operator", "timeout"])
def test_order_not_yet_shipped_can_be_cancelled(start: OrderStatus, by: str) -> None:
    order = order_in(start)
    order.ensure_cancellable()

    new = order.cancel("changed my mind", by=by)

    assert new == [ev.OrderCancelled(reason="changed my mind", by=by)]
    assert order.status is S.CANCELLED
    assert order.cancel_reason == "changed my mind"
    assert order.events[-1:] == new


@pytest.mark.parametrize("start", [s for s in S if s not in CANCELLABLE], ids=str)
def test_ensure_cancellable_refuses_once_shipped_or_final(start: OrderStatus) -> None:
    order = order_in(start)
    check = unchanged(order)

    with pytest.raises(NotCancellable):
        order.ensure_cancellable()

    check()


# --- fulfilment -------------------------------------------------------------------------


def test_shipping_a_confirmed_order_records_the_shipment() -> None:
    order = order_in(S.CONFIRMED)

    new = order.ship("DHL", "JD0001")

    assert new == [ev.OrderShipped(carrier="DHL", tracking_number="JD0001")]
    assert order.status is S.SHIPPED
    assert order.shipment is not None
    assert (order.shipment.carrier, order.shipment.tracking_number) == ("DHL", "JD0001")
    assert order.events[-1:] == new


def shipped_not_captured() -> Order:
    order = order_in(S.CONFIRMED)
    order.ship("DHL", "JD0001")
    return order


@pytest.mark.parametrize(
    "amount", [pytest.param(3500, id="full"), pytest.param(3000, id="less-than-authorized")]
)
def test_capture_up_to_the_authorization_is_recorded(amount: int) -> None:
    order = shipped_not_captured()

    new = order.record_capture(eur(amount))

    assert new == [ev.PaymentCaptured(amount=amount)]
    assert order.captured == amount
    assert order.status is S.SHIPPED
    assert order.events[-1:] == new


def test_capture_above_the_authorization_is_refused() -> None:
    order = shipped_not_captured()
    check = unchanged(order)

    with pytest.raises(InvalidTransition, match="exceeds the authorization"):
        order.record_capture(eur(3501))

    check()


def test_delivering_a_shipped_order_marks_it_delivered() -> None:
    order = order_in(S.SHIPPED)

    new = order.deliver()

    assert new == [ev.OrderDelivered()]
    assert order.status is S.DELIVERED
    assert order.events[-1:] == new


# --- refunds ----------------------------------------------------------------------------

REFUNDABLE = [S.SHIPPED, S.DELIVERED]


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
def test_partial_refund_keeps_the_status_and_raises_the_refunded_amount(
    start: OrderStatus,
) -> None:
    order = order_in(start)

    new = order.refund(eur(1000), "scratched")

    assert new == [ev.RefundIssued(amount=1000, refunded_total=1000, reason="scratched")]
    assert order.status is start
    assert order.refunded == 1000
    assert order.refundable == eur(2500)
    assert order.events[-1:] == new


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
def test_full_refund_ends_the_order_as_refunded(start: OrderStatus) -> None:
    order = order_in(start)

    new = order.refund(eur(3500), "lost in transit")

    assert new == [
        ev.RefundIssued(amount=3500, refunded_total=3500, reason="lost in transit"),
        ev.OrderRefunded(),
    ]
    assert order.status is S.REFUNDED
    assert order.status.is_final
    assert order.refundable == eur(0)
    assert order.events[-2:] == new


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
def test_partial_refunds_adding_up_to_the_capture_end_the_order_as_refunded(
    start: OrderStatus,
) -> None:
    order = order_in(start)
    order.refund(eur(1000), "first")

    new = order.refund(eur(2500), "second")

    assert new == [
        ev.RefundIssued(amount=2500, refunded_total=3500, reason="second"),
        ev.OrderRefunded(),
    ]
    assert order.status is S.REFUNDED


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
def test_refund_without_an_amount_refunds_the_rest(start: OrderStatus) -> None:
    order = order_in(start)
    order.refund(eur(1000), "first")

    new = order.refund(None, "the rest")

    assert new == [
        ev.RefundIssued(amount=2500, refunded_total=3500, reason="the rest"),
        ev.OrderRefunded(),
    ]
    assert order.status is S.REFUNDED
    assert order.refunded == 3500


def test_ensure_refundable_without_an_amount_answers_the_rest() -> None:
    order = order_in(S.DELIVERED)
    order.refund(eur(500), "first")
    check = unchanged(order)

    assert order.ensure_refundable(None) == eur(3000)
    assert order.ensure_refundable(eur(100)) == eur(100)
    check()


def test_full_refund_of_a_partial_capture_returns_only_what_was_captured() -> None:
    order = shipped_not_captured()
    order.record_capture(eur(3000))

    new = order.refund(None, "all of it")

    assert new[0] == ev.RefundIssued(amount=3000, refunded_total=3000, reason="all of it")
    assert order.status is S.REFUNDED


@pytest.mark.parametrize("start", REFUNDABLE, ids=str)
@pytest.mark.parametrize(
    ("already_refunded", "amount"),
    [
        pytest.param(0, 3501, id="more-than-captured"),
        pytest.param(1000, 2501, id="more-than-the-rest"),
        pytest.param(0, 0, id="zero"),
        pytest.param(0, -100, id="negative"),
    ],
)
def test_refund_over_the_refundable_amount_is_refused(
    start: OrderStatus, already_refunded: int, amount: int
) -> None:
    order = order_in(start)
    if already_refunded:
        order.refund(eur(already_refunded), "first")
    check = unchanged(order)

    with pytest.raises(RefundTooLarge):
        order.refund(eur(amount), "too much")

    check()


def test_refund_before_capture_is_refused() -> None:
    order = shipped_not_captured()
    check = unchanged(order)

    with pytest.raises(InvalidTransition, match="nothing captured"):
        order.refund(eur(100), "early")
    with pytest.raises(InvalidTransition, match="nothing captured"):
        order.refund(None, "early")

    check()


# --- the whole timeline -----------------------------------------------------------------


def test_each_transition_appends_its_events_to_the_timeline_in_order() -> None:
    order = place()
    order.require_payment_action()
    order.authorize(TOTAL, review_threshold=TOTAL.amount)
    order.approve()
    order.ship("UPS", "1Z999")
    order.record_capture(TOTAL)
    order.deliver()
    order.refund(eur(500), "late")
    order.refund(None, "rest")

    assert order.events == [
        ev.OrderAccepted(total=3500, currency="EUR"),
        ev.PaymentActionRequired(),
        ev.PaymentAuthorized(amount=3500),
        ev.ReviewRequired(total=3500),
        ev.OrderApproved(),
        ev.OrderConfirmed(),
        ev.OrderShipped(carrier="UPS", tracking_number="1Z999"),
        ev.PaymentCaptured(amount=3500),
        ev.OrderDelivered(),
        ev.RefundIssued(amount=500, refunded_total=500, reason="late"),
        ev.RefundIssued(amount=3000, refunded_total=3500, reason="rest"),
        ev.OrderRefunded(),
    ]
    assert order.status is S.REFUNDED


@pytest.mark.parametrize(
    ("status", "final"),
    [pytest.param(s, s in {S.PAYMENT_FAILED, S.CANCELLED, S.REFUNDED}, id=str(s)) for s in S],
)
def test_only_payment_failed_cancelled_and_refunded_are_final(
    status: OrderStatus, final: bool
) -> None:
    assert status.is_final is final


# --- the transition table: every command in every status --------------------------------

COMMANDS: dict[str, Callable[[Order], list[ev.DomainEvent]]] = {
    "require_payment_action": lambda o: o.require_payment_action(),
    "authorize": lambda o: o.authorize(o.total, review_threshold=THRESHOLD),
    "fail_payment": lambda o: o.fail_payment("card_declined"),
    "approve": lambda o: o.approve(),
    "reject": lambda o: o.reject("fraud"),
    "cancel": lambda o: o.cancel("changed my mind", by="customer"),
    "ship": lambda o: o.ship("DHL", "JD0002"),
    "record_capture": lambda o: o.record_capture(o.total),
    "deliver": lambda o: o.deliver(),
    "refund": lambda o: o.refund(eur(100), "goodwill"),
}

# Where docs/orders.md allows each command; everything else must be refused.
ALLOWED: dict[str, set[OrderStatus]] = {
    "require_payment_action": {S.ACCEPTED},
    "authorize": {S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED},
    "fail_payment": {S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED},
    "approve": {S.UNDER_REVIEW},
    "reject": {S.UNDER_REVIEW},
    "cancel": set(CANCELLABLE),
    "ship": {S.CONFIRMED},
    "record_capture": {S.SHIPPED},
    "deliver": {S.SHIPPED},
    "refund": set(REFUNDABLE),
}

LEGAL = [
    pytest.param(status, command, id=f"{command}-while-{status}")
    for command in COMMANDS
    for status in S
    if status in ALLOWED[command]
]
ILLEGAL = [
    pytest.param(status, command, id=f"{command}-while-{status}")
    for command in COMMANDS
    for status in S
    if status not in ALLOWED[command]
]


def test_transition_table_covers_every_command_in_every_status() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(COMMANDS) * len(S)
    assert set(ALLOWED) == set(COMMANDS)


@pytest.mark.parametrize(("status", "command"), LEGAL)
def test_command_allowed_in_status_succeeds_and_appends_its_events(
    status: OrderStatus, command: str
) -> None:
    order = order_in(status)
    if command == "record_capture":  # order_in(SHIPPED) has been captured already
        order = place()
        _confirm(order)
        order.ship("DHL", "JD0001")
    before = list(order.events)

    new = COMMANDS[command](order)

    assert new
    assert order.events == before + new


@pytest.mark.parametrize(("status", "command"), ILLEGAL)
def test_command_not_allowed_in_status_is_refused_and_changes_nothing(
    status: OrderStatus, command: str
) -> None:
    order = order_in(status)
    check = unchanged(order)
    expected = NotCancellable if command == "cancel" else InvalidTransition

    with pytest.raises(InvalidTransition) as refused:
        COMMANDS[command](order)

    assert refused.type is expected
    assert order.status is status
    check()


def test_second_capture_of_a_shipped_order_is_refused() -> None:
    order = order_in(S.SHIPPED)
    check = unchanged(order)

    with pytest.raises(InvalidTransition):
        order.record_capture(order.total)

    check()


def test_non_ascii_currency_code_is_rejected() -> None:
    with pytest.raises(ValueError):
        Money(1, "ÄÖÜ")
