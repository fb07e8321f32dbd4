"""The order aggregate's returns: opened within the return window for delivered units,
received (refund, then restock) or rejected, expired when never received; the order stays
open while one is (docs/orders.md, "Returns")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    InvalidOrder,
    InvalidTransition,
    RefundFailed,
    ReturnWindowClosed,
    TooManyUnits,
    UnknownLine,
    UnknownReturn,
)
from domain.orders import Order
from domain.values import Actor, ReturnStatus
from tests.unit.order_driving import (
    DURATIONS,
    NOW,
    Provider,
    S,
    act,
    order_in,
    perform,
    unchanged,
)

CUSTOMER = Actor("customer", "cus-1")
OPEN = cmd.OpenReturn((("SKU-1", 1),), "too small", actor=CUSTOMER)


def delivered_at_now() -> Order:
    order = order_in(S.CONFIRMED)
    perform(order, order.decide(cmd.Ship("DHL", "1"), NOW), at=NOW)
    perform(order, order.decide(cmd.Deliver(), NOW), at=NOW)
    return order


def test_a_return_is_opened_for_delivered_units_and_told_to_the_customer() -> None:
    order = order_in(S.DELIVERED)

    outcome = act(order, OPEN)

    (opened,) = order.returns
    assert (opened.id, opened.status, opened.lines) == ("R-1", ReturnStatus.REQUESTED, OPEN.lines)
    assert outcome.events == [
        ev.ReturnRequested(
            return_id="R-1", lines=[{"sku": "SKU-1", "quantity": 1}], reason="too small"
        )
    ]
    assert outcome.events[0].actor == CUSTOMER
    assert cmd.Notify("return_requested", cmd.Audience.CUSTOMER, 1) in outcome.effects
    assert order.status is S.DELIVERED


@pytest.mark.parametrize(
    ("lines", "refusal"),
    [
        ((("SKU-1", 3),), TooManyUnits),
        ((("SKU-9", 1),), UnknownLine),
        ((("SKU-1", 0),), InvalidOrder),
        ((), InvalidOrder),
    ],
    ids=["more-than-delivered", "unknown-sku", "zero", "no-lines"],
)
def test_a_return_of_units_not_delivered_is_refused_and_changes_nothing(
    lines: tuple[tuple[str, int], ...], refusal: type[Exception]
) -> None:
    order = order_in(S.DELIVERED)
    check = unchanged(order)

    for ask in (order.check, order.decide):
        with pytest.raises(refusal):
            ask(cmd.OpenReturn(lines, "why"))
    check()


def test_units_asked_back_by_an_open_return_cannot_be_asked_back_again() -> None:
    order = order_in(S.DELIVERED)
    act(order, cmd.OpenReturn((("SKU-1", 2),), "both"))

    with pytest.raises(TooManyUnits):
        order.check(cmd.OpenReturn((("SKU-1", 1),), "again"))
    act(order, cmd.OpenReturn((("SKU-2", 1),), "the other"))
    assert [r.id for r in order.returns] == ["R-1", "R-2"]


@pytest.mark.parametrize("status", [S.CONFIRMED, S.SHIPPED, S.CANCELLED], ids=str)
def test_returns_are_taken_only_once_delivered(status: S) -> None:
    with pytest.raises(InvalidTransition):
        order_in(status).check(OPEN)


def test_receiving_refunds_the_lines_then_restocks_them() -> None:
    order = order_in(S.DELIVERED)
    act(order, OPEN)
    receive = cmd.ReceiveReturn("R-1", actor=Actor("operator", "op-1"))

    decided = order.decide(receive, NOW)
    assert decided.effects == [cmd.Refund(1500, "return R-1", receive)]
    outcome = perform(order, decided)

    (back,) = order.returns
    assert (back.status, back.refund, back.restock) == (ReturnStatus.RECEIVED, 1500, True)
    assert [e.name for e in outcome.events] == [
        "return_received",
        "refund_issued",
        "stock_restocked",
    ]
    assert cmd.Restock((("SKU-1", 1),), "restock-R-1") in outcome.effects
    assert order.refunded == 1500
    assert order.status is S.DELIVERED


def test_receiving_without_restock_refunds_and_moves_no_stock() -> None:
    order = order_in(S.DELIVERED)
    act(order, OPEN)

    outcome = act(order, cmd.ReceiveReturn("R-1", restock=False))

    assert not [e for e in outcome.effects if isinstance(e, cmd.Restock)]
    assert order.returns[0].restock is False


def test_a_refused_refund_leaves_the_return_open_and_refuses_the_receipt() -> None:
    order = order_in(S.DELIVERED)
    act(order, OPEN)
    receive = cmd.ReceiveReturn("R-1", actor=Actor("operator", "op-1"))

    with pytest.raises(RefundFailed):
        act(order, receive, Provider(refuses=True))
    assert order.returns[0].open
    assert order.refunded == 0


def test_returning_everything_ends_the_order_refunded() -> None:
    order = order_in(S.DELIVERED)
    act(order, cmd.OpenReturn((("SKU-1", 2), ("SKU-2", 1)), "all of it"))

    act(order, cmd.ReceiveReturn("R-1"))

    assert order.status is S.REFUNDED
    assert order.finished


def test_a_rejected_return_refunds_nothing() -> None:
    order = order_in(S.DELIVERED)
    act(order, OPEN)

    outcome = act(order, cmd.RejectReturn("R-1", "worn"))

    assert outcome.events == [ev.ReturnRejected(return_id="R-1", reason="worn")]
    assert (order.returns[0].status, order.returns[0].resolution) == (ReturnStatus.REJECTED, "worn")
    assert order.refunded == 0
    with pytest.raises(InvalidTransition, match="is rejected"):
        order.check(cmd.ReceiveReturn("R-1"))


def test_an_unknown_return_is_not_found() -> None:
    order = order_in(S.DELIVERED)
    for command in (cmd.ReceiveReturn("R-7"), cmd.RejectReturn("R-7", "no")):
        with pytest.raises(UnknownReturn):
            order.check(command)


def test_a_return_never_received_expires_and_the_window_closing_waits_for_it() -> None:
    order = delivered_at_now()
    later = NOW + timedelta(days=20)
    perform(order, order.decide(OPEN, later), at=later)

    window = order.deadline(DURATIONS)
    assert window is not None and window.kind == "status"
    order.time_out(window, window.at)
    assert order.closed and not order.finished
    with pytest.raises(ReturnWindowClosed):
        order.check(cmd.OpenReturn((("SKU-2", 1),), "late"))

    expiry = order.deadline(DURATIONS)
    assert expiry is not None
    assert (expiry.kind, expiry.ref, expiry.at) == ("return", "R-1", later + timedelta(days=30))
    outcome = order.time_out(expiry, expiry.at)

    assert outcome.events == [ev.ReturnExpired(return_id="R-1")]
    assert order.returns[0].status is ReturnStatus.EXPIRED
    assert order.finished
    assert order.deadline(DURATIONS) is None
