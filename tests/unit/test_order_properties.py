"""The order aggregate's invariants over random sequences of commands, authorization
reports, timers and provider answers (hypothesis; tests/unit/order_sequences.py plays them
as the workflow does, without Temporal). Each test states one invariant over every step:

- `check` refuses exactly what `decide` refuses, and any refusal changes nothing;
- a status takes exactly the commands its stage lists (`domain/lifecycle.py`), and a timer
  fires exactly where the status has a timeout of its own;
- money: 0 <= refunded <= captured <= authorized = total once authorized; a final status
  never changes again, nor does an order whose refund window closed;
- every cancel releases the stock once, and voids an authorized payment or asks one in
  flight to void, never both; nothing stays authorized on a cancelled order;
- every event a customer (or the operator) is told about is one `Notify`, its occurrence
  how many times that event has happened so far;
- the payment's status follows the order's.

`ORDER_PROPERTY_EXAMPLES` sets the number of sequences per test.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, given, settings

from domain import commands as cmd
from domain import events as ev
from domain.errors import DomainError, PaymentRefused
from domain.lifecycle import OrderStatus, PaymentStatus
from domain.orders import Order
from tests.unit.order_driving import DURATIONS, changes
from tests.unit.order_sequences import (
    Case,
    Played,
    Report,
    TimerFires,
    place,
    play,
    sequences,
    stray_reports,
)

S, P = OrderStatus, PaymentStatus
EXAMPLES = int(os.environ.get("ORDER_PROPERTY_EXAMPLES", "150"))
properties = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _same(one: DomainError | None, other: DomainError | None) -> bool:
    return type(one) is type(other) and str(one) == str(other)


@properties
@given(sequences)
def test_check_refuses_exactly_what_decide_refuses_and_a_refusal_changes_nothing(
    case: Case,
) -> None:
    order, _ = place(case)
    for played in play(case, order):
        if played.refusal is not None:
            assert not changes(played.before, order), played.refusal
        action = played.action
        if isinstance(action, cmd.Command):
            if played.checked is not None:
                assert _same(played.refusal, played.checked)
            else:  # decided: only the provider may still refuse (capture, refund)
                refused = played.refusal
                assert refused is None or isinstance(refused, PaymentRefused), refused
                assert refused is None or played.provider.refuses
        if isinstance(action, TimerFires):
            no_timer = played.before.status.stage.timeout(DURATIONS) is None
            assert (played.refusal is not None) is no_timer


@properties
@given(stray_reports)
def test_a_refused_payment_report_changes_nothing(case: Case) -> None:
    order, _ = place(case)
    for played in play(case, order):
        if played.refusal is not None and isinstance(played.action, Report):
            assert not (changed := changes(played.before, order)), (played.refusal, changed)


PROBES: list[cmd.Command] = [
    cmd.Cancel("probe"),
    cmd.Approve(),
    cmd.Reject(),
    cmd.Ship("DHL", "JD1"),
    cmd.Deliver(),
    cmd.IssueRefund(None),
]


def _takes_exactly_its_stages_commands(order: Order) -> None:
    accepts = order.status.stage.accepts
    for probe in PROBES:
        try:
            order.check(probe)
            refused = None
        except DomainError as error:
            refused = error
        if type(probe) not in accepts:
            assert _same(refused, probe.refusal(order.status))
        elif isinstance(probe, cmd.IssueRefund):  # the whole rest, refused only once closed
            assert (refused is not None) is order.closed
            assert refused is None or str(refused) == "the refund window has closed"
        else:
            assert refused is None, refused


@properties
@given(sequences)
def test_a_status_takes_exactly_the_commands_its_stage_lists(case: Case) -> None:
    order, _ = place(case)
    _takes_exactly_its_stages_commands(order)
    for played in play(case, order):
        action = played.action
        if isinstance(action, cmd.Command) and played.checked is None:
            assert type(action) in played.before.status.stage.accepts
        _takes_exactly_its_stages_commands(order)


@properties
@given(sequences)
def test_money_stays_within_the_total_and_a_final_status_never_changes(case: Case) -> None:
    order, _ = place(case)
    total = order.total.amount
    for played in play(case, order):
        assert 0 <= order.refunded <= order.captured <= order.authorized
        authorized = any(isinstance(e, ev.PaymentAuthorized) for e in order.events)
        assert order.authorized == (total if authorized else 0)
        assert order.refundable.amount == order.captured - order.refunded
        assert (order.captured > 0) is (order.status in {S.SHIPPED, S.DELIVERED, S.REFUNDED})
        refunds = [e for e in order.events if isinstance(e, ev.RefundIssued)]
        assert sum(e.amount for e in refunds) == order.refunded
        assert (order.status is S.REFUNDED) is (order.refunded == order.captured > 0)
        if played.before.status.is_final:
            assert order.status is played.before.status
        if played.before.closed:
            assert not changes(played.before, order)


def _void_asked(cancel: Played) -> list[cmd.Effect]:
    """What a cancel asks of the payment: void an authorized one, ask one in flight to void;
    nothing when 3-D Secure expired (that payment ended by itself)."""
    payment = cancel.before.payment
    if isinstance(cancel.action, Report):
        return []
    if payment.status is P.AUTHORIZED:
        return [cmd.Void()]
    return [cmd.RequestVoid()] if payment.in_flight else []


@properties
@given(sequences)
def test_every_cancel_releases_the_stock_once_and_voids_or_asks_to_void(case: Case) -> None:
    order, _ = place(case)
    asked: Counter[type] = Counter()
    authorizing = True
    for played in play(case, order):
        authorizing = played.authorizing
        if played.outcome is None:
            continue
        effects = played.outcome.effects
        asked.update(type(e) for e in effects)
        if any(isinstance(e, ev.OrderCancelled) for e in played.outcome.events):
            assert effects.count(cmd.ReleaseStock()) == 1
            voids = [e for e in effects if isinstance(e, cmd.Void | cmd.RequestVoid)]
            assert voids == _void_asked(played)
    released = order.status in {S.CANCELLED, S.PAYMENT_FAILED}
    assert asked[cmd.ReleaseStock] == int(released)
    units = sum(line.quantity for line in order.lines)
    stock = [e for e in order.events if isinstance(e, ev.StockReleased | ev.StockCommitted)]
    assert stock == ([ev.StockReleased(units)] if released else []) + (
        [ev.StockCommitted(units)] if order.shipment else []
    )
    assert asked[cmd.Void] <= 1 and asked[cmd.RequestVoid] <= 1
    if order.payment.void_requested:  # the payment in flight voids by itself
        assert asked[cmd.Void] == 0
    if order.status is S.CANCELLED and not authorizing:
        assert order.payment.status in {P.VOIDED, P.VOID_FAILED, P.FAILED, P.EXPIRED}


def _told(order: Order) -> list[cmd.Notify]:
    """What each event of the timeline tells whom, the how-many-th time."""
    seen: Counter[str] = Counter()
    told = []
    for event in order.events:
        seen[event.name] += 1
        if event.notify:
            told.append(cmd.Notify(event.notify, cmd.Audience.CUSTOMER, seen[event.name]))
        elif isinstance(event, ev.ReviewRequired):
            told.append(cmd.Notify(event.name, cmd.Audience.OPERATOR, seen[event.name]))
    return told


@properties
@given(sequences)
def test_every_notified_event_is_one_notify_with_its_occurrence(case: Case) -> None:
    order, placed = place(case)
    asked = [e for e in placed.effects if isinstance(e, cmd.Notify)]
    for played in play(case, order):
        if played.outcome is not None:
            asked += [e for e in played.outcome.effects if isinstance(e, cmd.Notify)]
        assert asked == _told(order)


def _payment_follows(order: Order) -> set[PaymentStatus]:
    match order.status:
        case S.ACCEPTED:
            return {P.AUTHORIZING}
        case S.PAYMENT_ACTION_REQUIRED:
            return {P.ACTION_REQUIRED}
        case S.UNDER_REVIEW | S.CONFIRMED:
            return {P.AUTHORIZED}
        case S.SHIPPED | S.DELIVERED:
            return {P.PARTIALLY_REFUNDED if order.refunded else P.CAPTURED}
        case S.REFUNDED:
            return {P.REFUNDED}
        case S.PAYMENT_FAILED:
            return {P.FAILED}
    # cancelled: still authorizing (its void asked), or the authorization is over
    return {P.AUTHORIZING, P.ACTION_REQUIRED, P.VOIDED, P.VOID_FAILED, P.FAILED, P.EXPIRED}


@properties
@given(sequences)
def test_the_payment_status_follows_the_order(case: Case) -> None:
    order, _ = place(case)
    for _played in play(case, order):
        assert order.payment.status in _payment_follows(order), order.status
        if order.payment.client_secret is not None:  # only while the customer must act
            assert order.payment.status is P.ACTION_REQUIRED
