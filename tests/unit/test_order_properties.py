"""The order aggregate's invariants over random sequences of commands, authorization
reports, deadlines and provider answers (hypothesis; tests/unit/order_sequences.py plays
them as the workflow does, without Temporal). Each test states one invariant over every
step:

- `check` refuses exactly what `decide` refuses (the same `DomainError` subclass and
  message), any refusal changes nothing, and a deadline that passes is always decided;
- a status takes exactly the commands its stage lists (`domain/lifecycle.py`);
- the order never waits on nothing: until it is finished it has a next deadline (but while
  the payment authorizes), and a deadline once decided is not due again;
- money: 0 <= refunded <= captured <= authorized = total once authorized; exactly one
  capture for an order that shipped (none otherwise), of the order's total at its first
  shipment; a final status never changes again, nor does a finished order;
- stock, per sku: units reserved at placement = released + committed + still reserved,
  each unit counted once as the warehouse answered it; committed = shipped; what is still
  reserved is what is still to ship; restocked = the units of returns received with
  restock <= committed; nothing is released once every unit shipped but an edit's units;
- units, per line: shipped <= quantity, returned <= delivered, claimed (received and open
  returns) <= delivered;
- every cancel releases the stock once, and voids an authorized payment or asks one in
  flight to void, never both; nothing stays authorized on a cancelled order;
- every event a customer (or the operator) is told about is one `Notify`, its occurrence
  how many times that event has happened so far: an order_shipped per shipment (S-n is the
  n-th), a refund_issued per refund, a return_* per return;
- the payment's status follows the order's.

`ORDER_PROPERTY_EXAMPLES` sets the number of sequences per test.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, given, settings

from domain import commands as cmd
from domain import events as ev
from domain import fulfilment as units
from domain.errors import DomainError, PaymentRefused
from domain.lifecycle import Deadline, OrderStatus, PaymentStatus
from domain.orders import Order
from domain.values import ReturnStatus
from tests.unit.order_driving import DURATIONS, changes
from tests.unit.order_sequences import (
    MOVED,
    Case,
    Played,
    Report,
    Warehouse,
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
CAPTURED = {S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED, S.REFUNDED}
"""The statuses of an order whose payment was captured (at its first shipment)."""


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
        if isinstance(action, Deadline):  # the workflow waited on it: it must be decided
            assert played.refusal is None, played.refusal


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
    cmd.Edit((("SKU-0", 0),)),
    cmd.OpenReturn((("SKU-0", 1),)),
    cmd.ReceiveReturn("R-1"),
    cmd.RejectReturn("R-1"),
]
BY_CONTENT = (cmd.Edit, cmd.OpenReturn, cmd.ReceiveReturn, cmd.RejectReturn)
"""Commands a status takes that are refused or not by what they name."""


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
        elif isinstance(probe, cmd.Deliver):  # every shipment: once every unit shipped
            assert (refused is not None) is bool(order.unshipped), refused
        elif not isinstance(probe, BY_CONTENT):
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
def test_the_order_never_waits_on_nothing(case: Case) -> None:
    order, _ = place(case)
    for played in play(case, order):
        deadline = order.deadline(DURATIONS)
        if order.finished:
            assert deadline is None, deadline
        elif played.authorizing:  # the payment process owns the wait
            assert order.status in {S.ACCEPTED, S.PAYMENT_ACTION_REQUIRED}, order.status
        else:
            assert deadline is not None, f"{order.status} waits on nothing"
        if isinstance(played.action, Deadline) and played.outcome is not None:
            assert deadline != played.action, f"{deadline} is due again once decided"


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
        assert (order.captured > 0) is (order.status in CAPTURED)
        refunds = [e for e in order.events if isinstance(e, ev.RefundIssued)]
        assert sum(e.amount for e in refunds) == order.refunded
        assert (order.status is S.REFUNDED) is (order.refunded == order.captured > 0)
        if played.before.status.is_final:
            assert order.status is played.before.status
        if played.before.finished and not played.before.status.is_final:
            assert not changes(played.before, order)  # the return window closed, none open
        elif played.before.closed:  # only its open returns are still received or rejected
            changed = set(changes(played.before, order))
            returns = {"returns", "refunded", "payment", "events", "status", "status_since"}
            assert changed <= returns, changed


@properties
@given(sequences)
def test_an_order_that_shipped_is_captured_once_for_its_total_at_the_first_shipment(
    case: Case,
) -> None:
    order, _ = place(case)
    captures: list[int] = []
    for played in play(case, order):
        if played.outcome is None:
            continue
        asked = [e for e in played.outcome.effects if isinstance(e, cmd.Capture)]
        captured = [e for e in played.outcome.events if isinstance(e, ev.PaymentCaptured)]
        assert len(asked) == len(captured)  # a capture refused refuses the shipment
        captures += [e.amount for e in captured]
        if captured:
            first = [e for e in played.outcome.events if isinstance(e, ev.OrderShipped)]
            assert [e.shipment_id for e in first] == ["S-1"]
            assert captured[0].amount == played.before.total.amount == order.captured
        assert len(captures) == (1 if order.shipments else 0), captures
        assert order.captured == sum(captures)


def _stock_accounted(order: Order, warehouse: Warehouse) -> None:
    for sku, placed in warehouse.placed.items():
        counted = warehouse.released[sku] + warehouse.committed[sku] + warehouse.held[sku]
        assert placed == counted, (sku, placed, warehouse)
        assert warehouse.held[sku] >= 0, (sku, warehouse)
    assert warehouse.committed == units.shipped(order.shipments), warehouse
    to_ship = Counter() if order.status.is_final else Counter(dict(order.unshipped))
    assert warehouse.held == to_ship, (warehouse, order.unshipped)
    restocked = units.counted(
        r.lines for r in order.returns if r.status == ReturnStatus.RECEIVED and r.restock
    )
    assert warehouse.restocked == restocked, warehouse
    assert all(n <= warehouse.committed[sku] for sku, n in warehouse.restocked.items())
    assert all(key.startswith("edit-") for key in warehouse.late_releases), warehouse
    for kind, event in (
        ("release", ev.StockReleased),
        ("commit", ev.StockCommitted),
        ("restock", ev.StockRestocked),
    ):
        recorded = sum(e.units for e in order.events if isinstance(e, event))
        assert recorded == warehouse.answered[kind], (kind, recorded, warehouse)
        moved = getattr(warehouse, MOVED[kind])
        assert recorded == sum(moved.values()), (kind, recorded, warehouse)


@properties
@given(sequences)
def test_stock_is_accounted_once_per_sku(case: Case) -> None:
    order, _ = place(case)
    warehouse = Warehouse.reserving(case.lines)
    _stock_accounted(order, warehouse)
    for _played in play(case, order, warehouse):
        _stock_accounted(order, warehouse)


@properties
@given(sequences)
def test_units_shipped_returned_and_claimed_stay_within_the_lines(case: Case) -> None:
    order, _ = place(case)
    for _played in play(case, order):
        quantity = {line.sku: line.quantity for line in order.lines}
        shipped = units.shipped(order.shipments)
        delivered = units.delivered(order.shipments)
        assert all(n <= quantity.get(sku, 0) for sku, n in shipped.items()), shipped
        assert all(n <= shipped[sku] for sku, n in delivered.items()), delivered
        returned = units.returned(order.returns)
        assert all(n <= delivered[sku] for sku, n in returned.items()), returned
        claimed = units.claimed(order.returns)
        assert all(n <= delivered[sku] for sku, n in claimed.items()), claimed
        ids = [s.id for s in order.shipments], [r.id for r in order.returns]
        assert ids == (
            [f"S-{n}" for n in range(1, len(order.shipments) + 1)],
            [f"R-{n}" for n in range(1, len(order.returns) + 1)],
        )


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
    whole = 0
    for played in play(case, order):
        authorizing = played.authorizing
        if played.outcome is None:
            continue
        effects = played.outcome.effects
        asked.update(type(e) for e in effects)
        whole += effects.count(cmd.ReleaseStock())
        if any(isinstance(e, ev.OrderCancelled) for e in played.outcome.events):
            assert effects.count(cmd.ReleaseStock()) == 1
            voids = [e for e in effects if isinstance(e, cmd.Void | cmd.RequestVoid)]
            assert voids == _void_asked(played)
    ended = order.status in {S.CANCELLED, S.PAYMENT_FAILED}
    refunded_unshipped = order.status is S.REFUNDED and bool(order.unshipped)
    assert whole == int(ended or refunded_unshipped)
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


def _occurrences(asked: list[cmd.Notify], event: str) -> list[int]:
    return [n.occurrence for n in asked if n.event == event]


@properties
@given(sequences)
def test_every_notified_event_is_one_notify_with_its_occurrence(case: Case) -> None:
    order, placed = place(case)
    asked = [e for e in placed.effects if isinstance(e, cmd.Notify)]
    refunds = 0
    for played in play(case, order):
        if played.outcome is not None:
            asked += [e for e in played.outcome.effects if isinstance(e, cmd.Notify)]
            if not played.provider.refuses:  # each refund asked was refunded
                refunds += sum(isinstance(e, cmd.Refund) for e in played.outcome.effects)
        for event in {n.event for n in asked + _told(order)}:  # (across events: see below)
            assert _occurrences(asked, event) == _occurrences(_told(order), event), event
        shipped = [e.shipment_id for e in order.events if isinstance(e, ev.OrderShipped)]
        assert shipped == [s.id for s in order.shipments]
        received = [r for r in order.returns if r.status == ReturnStatus.RECEIVED]
        rejected = [r for r in order.returns if r.status == ReturnStatus.REJECTED]
        for event, happened in (
            ("order_shipped", len(order.shipments)),
            ("refund_issued", refunds),
            ("return_requested", len(order.returns)),
            ("return_received", len(received)),
            ("return_rejected", len(rejected)),
        ):
            assert _occurrences(asked, event) == list(range(1, happened + 1)), event
        requested = [e.return_id for e in order.events if isinstance(e, ev.ReturnRequested)]
        assert requested == [r.id for r in order.returns]
        by_return = [e.return_id for e in order.events if isinstance(e, ev.ReturnReceived)]
        assert Counter(by_return) == Counter(r.id for r in received)


@properties
@given(sequences)
def test_a_decision_records_its_events_in_the_order_it_tells_them(case: Case) -> None:
    """The outcome's events are the timeline's new entries, in order, and its notifications
    follow them: the workflow publishes the one and notifies from the other."""
    order, _ = place(case)
    for played in play(case, order):
        if played.outcome is not None:
            new = order.events[len(played.before.events) :]
            assert [e.name for e in played.outcome.events] == [e.name for e in new]
            asked = [e for e in played.outcome.effects if isinstance(e, cmd.Notify)]
            assert asked == _told(order)[len(_told(played.before)) :]


def _payment_follows(order: Order) -> set[PaymentStatus]:
    match order.status:
        case S.ACCEPTED:
            return {P.AUTHORIZING}
        case S.PAYMENT_ACTION_REQUIRED:
            return {P.ACTION_REQUIRED}
        case S.UNDER_REVIEW | S.CONFIRMED:
            return {P.AUTHORIZED}
        case S.PARTIALLY_SHIPPED | S.SHIPPED | S.DELIVERED:
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
