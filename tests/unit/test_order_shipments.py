"""The order aggregate's split shipments, per-shipment delivery and edits (docs/orders.md,
"Shipments, edits and returns")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.errors import (
    InvalidEdit,
    InvalidOrder,
    InvalidTransition,
    TooManyUnits,
    UnknownLine,
    UnknownShipment,
)
from domain.values import Actor
from tests.unit.order_driving import DURATIONS, NOW, S, act, order_in, perform, unchanged

OPERATOR = Actor("operator", "op-1")
FIRST = cmd.Ship("DHL", "JD1", (("SKU-1", 1),), actor=OPERATOR)
REST = cmd.Ship("DHL", "JD2", actor=OPERATOR)


def test_the_first_shipment_captures_the_whole_total_and_commits_only_its_units() -> None:
    order = order_in(S.CONFIRMED)

    decided = order.decide(FIRST, NOW)
    assert decided.effects == [cmd.Capture(3500, FIRST)]
    outcome = act(order, FIRST)

    assert order.status is S.PARTIALLY_SHIPPED
    assert order.captured == 3500
    assert [e.name for e in outcome.events] == [
        "order_shipped",
        "payment_captured",
        "stock_committed",
    ]
    assert outcome.events[0].actor == OPERATOR
    assert cmd.CommitStock((("SKU-1", 1),), "commit-S-1") in outcome.effects
    assert order.unshipped == (("SKU-1", 1), ("SKU-2", 1))


def test_a_later_shipment_captures_nothing_and_commits_every_unit_left() -> None:
    order = order_in(S.CONFIRMED)
    act(order, FIRST)

    decided = order.decide(REST, NOW)

    assert not [e for e in decided.effects if isinstance(e, cmd.Capture)]
    assert cmd.CommitStock() in decided.effects
    assert order.status is S.SHIPPED
    assert [s.id for s in order.shipments] == ["S-1", "S-2"]
    assert order.shipments[1].lines == (("SKU-1", 1), ("SKU-2", 1))
    occurrences = [n.occurrence for n in decided.effects if isinstance(n, cmd.Notify)]
    assert occurrences == [2]  # the second order_shipped email


@pytest.mark.parametrize(
    ("lines", "refusal"),
    [
        ((("SKU-1", 3),), TooManyUnits),
        ((("SKU-9", 1),), UnknownLine),
        ((("SKU-1", 0),), InvalidOrder),
        ((), InvalidOrder),
        ((("SKU-1", 1), ("SKU-1", 1)), InvalidOrder),
    ],
    ids=["more-than-unshipped", "unknown-sku", "zero", "no-lines", "sku-twice"],
)
def test_a_shipment_of_units_that_are_not_there_is_refused_and_changes_nothing(
    lines: tuple[tuple[str, int], ...], refusal: type[Exception]
) -> None:
    order = order_in(S.CONFIRMED)
    check = unchanged(order)

    for ask in (order.check, order.decide):
        with pytest.raises(refusal):
            ask(cmd.Ship("DHL", "JD1", lines))
    check()


def test_each_shipment_is_delivered_on_its_own_and_the_last_delivers_the_order() -> None:
    order = order_in(S.CONFIRMED)
    act(order, FIRST)

    with pytest.raises(InvalidTransition, match="units are still to ship"):
        order.check(cmd.Deliver())
    with pytest.raises(UnknownShipment):
        order.check(cmd.Deliver(shipment_id="S-9"))
    first = act(order, cmd.Deliver(shipment_id="S-1"))
    assert first.events == [ev.ShipmentDelivered(shipment_id="S-1")]
    with pytest.raises(InvalidTransition, match="delivered already"):
        order.check(cmd.Deliver(shipment_id="S-1"))

    act(order, REST)
    last = act(order, cmd.Deliver(shipment_id="S-2"))

    assert order.status is S.DELIVERED
    assert last.events == [ev.OrderDelivered()]


def test_each_shipment_has_its_own_delivery_deadline() -> None:
    order = order_in(S.CONFIRMED)
    for command, at in ((FIRST, NOW), (REST, NOW + timedelta(days=2))):
        perform(order, order.decide(command, at), at=at)

    deadline = order.deadline(DURATIONS)

    assert deadline is not None
    assert (deadline.kind, deadline.ref) == ("delivery", "S-1")
    assert deadline.at == NOW + DURATIONS["delivery_timeout"]
    outcome = order.time_out(deadline, deadline.at)
    assert outcome.events == [ev.ShipmentDelivered(shipment_id="S-1")]
    following = order.deadline(DURATIONS)
    assert following is not None
    assert (following.ref, following.at) == ("S-2", NOW + timedelta(days=32))


def test_partly_shipped_orders_cancel_and_refund_the_rest_when_it_does_not_ship() -> None:
    order = order_in(S.CONFIRMED)
    act(order, FIRST)
    deadline = order.deadline(DURATIONS)
    assert deadline is not None and deadline.kind == "status"

    decided = order.time_out(deadline, deadline.at)
    (refund,) = decided.effects
    assert isinstance(refund, cmd.Refund) and refund.amount == 2000  # 1500 + 500 not shipped

    outcome = perform(order, decided)

    assert order.status is S.SHIPPED
    assert order.refunded == 2000
    assert [(ln.sku, ln.quantity) for ln in order.lines] == [("SKU-1", 1)]
    assert cmd.ReleaseStock((("SKU-1", 1), ("SKU-2", 1)), "edit-1") in outcome.effects
    assert {e.actor.type for e in outcome.events} == {"system"}


# --- edits --------------------------------------------------------------------------------


def test_an_edit_before_shipment_releases_the_removed_units_and_lowers_the_capture() -> None:
    order = order_in(S.CONFIRMED)
    edit = cmd.Edit((("SKU-1", 1), ("SKU-2", 0)), "too many", actor=Actor("customer", "cus-1"))

    outcome = act(order, edit)

    assert order.total.amount == 1500
    assert [(ln.sku, ln.quantity) for ln in order.lines] == [("SKU-1", 1)]
    assert outcome.effects[-1] == cmd.ReleaseStock((("SKU-1", 1), ("SKU-2", 1)), "edit-1")
    assert cmd.Notify("order_updated", cmd.Audience.CUSTOMER, 1) in outcome.effects
    assert order.decide(cmd.Ship("DHL", "1"), NOW).effects[0] == cmd.Capture(
        1500, cmd.Ship("DHL", "1")
    )


@pytest.mark.parametrize(
    ("lines", "refusal"),
    [
        ((("SKU-1", 3),), InvalidEdit),
        ((("SKU-9", 1),), UnknownLine),
        ((("SKU-1", 0), ("SKU-2", 0)), InvalidEdit),
        ((("SKU-1", 2),), InvalidEdit),
        ((("SKU-1", -1),), InvalidEdit),
    ],
    ids=["raise", "unknown-sku", "nothing-left", "no-change", "negative"],
)
def test_an_edit_that_raises_adds_or_leaves_nothing_is_refused_and_changes_nothing(
    lines: tuple[tuple[str, int], ...], refusal: type[Exception]
) -> None:
    order = order_in(S.CONFIRMED)
    check = unchanged(order)

    for ask in (order.check, order.decide):
        with pytest.raises(refusal):
            ask(cmd.Edit(lines))
    check()


def test_after_the_first_shipment_only_an_operator_cancels_units_and_they_are_refunded() -> None:
    order = order_in(S.CONFIRMED)
    act(order, FIRST)
    customer = cmd.Edit((("SKU-2", 0),), actor=Actor("customer", "cus-1"))
    with pytest.raises(InvalidTransition, match="only an operator"):
        order.check(customer)
    with pytest.raises(InvalidEdit, match="shipped already"):
        order.check(cmd.Edit((("SKU-1", 0),), actor=OPERATOR))

    act(order, cmd.Edit((("SKU-1", 1), ("SKU-2", 0)), actor=OPERATOR))

    assert order.status is S.SHIPPED
    assert order.refunded == 2000
    assert order.total.amount == 1500


def test_edits_are_refused_once_everything_shipped() -> None:
    order = order_in(S.SHIPPED)
    with pytest.raises(InvalidTransition):
        order.check(cmd.Edit((("SKU-1", 1),)))
