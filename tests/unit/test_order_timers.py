"""The order aggregate's timers (how long each status waits, what its timeout does, the
fulfilment timer counted from the authorization), the whole timeline, and every command in
every status against docs/orders.md's table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.errors import InvalidTransition, NotCancellable
from domain.orders import OrderStatus
from tests.unit.order_driving import (
    DURATIONS,
    NOW,
    THRESHOLD,
    UNITS,
    S,
    act,
    authorize,
    order_in,
    perform,
    place,
    report,
    timeout,
    unchanged,
)

# --- timers -------------------------------------------------------------------------------

ALL_UNITS = [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}]


@pytest.mark.parametrize("start", [S.UNDER_REVIEW, S.CONFIRMED], ids=str)
def test_timer_before_shipment_cancels_by_the_system_and_voids(start: OrderStatus) -> None:
    order = order_in(start)

    outcome = perform(order, order.time_out())

    assert outcome.events == [
        ev.OrderCancelled(reason=f"{start} timed out", by="system"),
        ev.StockReleased(UNITS),
        ev.PaymentVoided(),
    ]
    assert order.status is S.CANCELLED


def test_delivery_timer_takes_the_shipment_as_delivered() -> None:
    order = order_in(S.SHIPPED)
    assert order.time_out().events == [ev.OrderDelivered()]
    assert order.status is S.DELIVERED


@pytest.mark.parametrize("start", [s for s in S if s.stage.on_timeout is None], ids=str)
def test_status_without_a_timer_of_its_own_refuses_a_timeout(start: OrderStatus) -> None:
    order = order_in(start)
    check = unchanged(order)

    assert timeout(order, NOW) is None
    with pytest.raises(InvalidTransition, match=f"an order that is {start} has no timer"):
        order.time_out()

    check()


@pytest.mark.parametrize(
    ("elapsed", "left"),
    [
        (timedelta(hours=20), timedelta(days=6) - timedelta(hours=20)),
        (timedelta(days=9), timedelta(seconds=1)),
    ],
    ids=["after-review", "past-the-end"],
)
def test_fulfilment_timer_counts_from_the_authorization_the_order_recorded(
    elapsed: timedelta, left: timedelta
) -> None:
    order = order_in(S.UNDER_REVIEW)
    act(order, cmd.Approve())

    assert order.authorized_at == NOW
    assert timeout(order, NOW + elapsed) == left


@pytest.mark.parametrize("status", [S.UNDER_REVIEW, S.SHIPPED, S.DELIVERED], ids=str)
def test_other_timers_count_from_entering_the_status(status: OrderStatus) -> None:
    order = order_in(status)
    assert timeout(order, NOW + timedelta(hours=20)) == status.stage.timeout(DURATIONS)


# --- the whole timeline -------------------------------------------------------------------


def test_each_transition_appends_its_events_to_the_timeline_in_order() -> None:
    order = place()
    order.authorization_reported(report("action_required"), THRESHOLD, NOW)
    authorize(order, threshold=3500)
    act(order, cmd.Approve())
    act(order, cmd.Ship("UPS", "1Z999"))
    act(order, cmd.Deliver())
    act(order, cmd.IssueRefund(500, "late"))
    act(order, cmd.IssueRefund(None, "rest"))

    assert order.events == [
        ev.OrderAccepted(total=3500, currency="EUR"),
        ev.PaymentActionRequired(),
        ev.PaymentAuthorized(amount=3500),
        ev.ReviewRequired(total=3500),
        ev.OrderApproved(),
        ev.OrderConfirmed(),
        ev.OrderShipped(carrier="UPS", tracking_number="1Z999", lines=ALL_UNITS),
        ev.PaymentCaptured(amount=3500),
        ev.StockCommitted(units=UNITS),
        ev.OrderDelivered(),
        ev.RefundIssued(amount=500, refunded_total=500, reason="late"),
        ev.RefundIssued(amount=3000, refunded_total=3500, reason="rest"),
        ev.OrderRefunded(),
    ]
    assert order.status is S.REFUNDED


# --- every command in every status --------------------------------------------------------

COMMANDS: list[cmd.Command] = [
    cmd.Cancel("changed my mind"),
    cmd.Approve(),
    cmd.Reject("fraud"),
    cmd.Ship("DHL", "JD0002"),
    cmd.Deliver(),
    cmd.IssueRefund(100, "goodwill"),
]
ALLOWED: dict[type[cmd.Command], set[OrderStatus]] = {
    cmd.Cancel: {S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED, S.UNDER_REVIEW, S.CONFIRMED},
    cmd.Approve: {S.UNDER_REVIEW},
    cmd.Reject: {S.UNDER_REVIEW},
    cmd.Ship: {S.CONFIRMED, S.PARTIALLY_SHIPPED},
    cmd.Deliver: {S.SHIPPED},
    cmd.IssueRefund: {S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED},
}
"""Where docs/orders.md allows each command; everything else is refused."""


def _refusal(command: cmd.Command, status: OrderStatus) -> tuple[type[Exception], str]:
    if isinstance(command, cmd.Cancel):
        return NotCancellable, f"an order that is {status} cannot be cancelled"
    if isinstance(command, cmd.IssueRefund):
        return InvalidTransition, f"nothing captured to refund while {status}"
    if isinstance(command, cmd.Deliver) and status is S.PARTIALLY_SHIPPED:
        return InvalidTransition, "units are still to ship"
    return InvalidTransition, f"cannot {command.verb} an order that is {status}"


@pytest.mark.parametrize("status", list(S), ids=str)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.verb)
def test_every_command_in_every_status(status: OrderStatus, command: cmd.Command) -> None:
    order = order_in(status)
    before = len(order.events)

    if status in ALLOWED[type(command)]:
        order.check(command)
        outcome = act(order, command)
        assert outcome.events or outcome.effects
        assert order.events[before:] == outcome.events
        return
    check = unchanged(order)
    refusal, message = _refusal(command, status)
    for ask in (order.check, order.decide):
        with pytest.raises(InvalidTransition, match=message) as refused:
            ask(command)
        assert refused.type is refusal
    check()
