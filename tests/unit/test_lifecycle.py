"""The lifecycle table itself (`domain/lifecycle.py`): every status has its stage, final
statuses take nothing and wait for nothing, every timer names a policy duration and says
what its timeout does (but the payment's own 3-D Secure timer), as docs/orders.md's table
says."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import commands as cmd
from domain.lifecycle import STAGES, OnTimeout, OrderStatus, Payment
from domain.lifecycle import PaymentStatus as P
from workflows.contracts import OrderPolicy

S = OrderStatus
FINAL = {S.PAYMENT_FAILED, S.CANCELLED, S.REFUNDED}


def test_every_status_has_its_stage() -> None:
    assert set(STAGES) == set(OrderStatus)
    assert all(status.stage is STAGES[status] for status in OrderStatus)


@pytest.mark.parametrize("status", list(S), ids=str)
def test_only_payment_failed_cancelled_and_refunded_are_final(status: OrderStatus) -> None:
    assert status.is_final is (status in FINAL)


@pytest.mark.parametrize("status", sorted(FINAL), ids=str)
def test_a_final_status_accepts_nothing_and_waits_for_nothing(status: OrderStatus) -> None:
    stage = status.stage
    assert stage.accepts == frozenset()
    assert (stage.timer, stage.on_timeout, stage.from_authorization) == (None, None, False)
    assert stage.waiting == "finished"


@pytest.mark.parametrize("status", [s for s in S if s not in FINAL], ids=str)
def test_a_waiting_status_says_what_it_waits_for_and_takes_a_command(
    status: OrderStatus,
) -> None:
    assert status.stage.waiting != "finished"
    assert status.stage.accepts


@pytest.mark.parametrize("status", [s for s in S if s.stage.timer], ids=str)
def test_every_timer_says_what_its_timeout_does_but_the_payments_own(
    status: OrderStatus,
) -> None:
    owned_by_the_payment = status is S.PAYMENT_ACTION_REQUIRED
    assert (status.stage.on_timeout is None) is owned_by_the_payment


def test_what_each_timeout_does() -> None:
    assert {s: (s.stage.timer, s.stage.on_timeout) for s in S if s.stage.timer} == {
        S.PAYMENT_ACTION_REQUIRED: ("payment_action_timeout", None),
        S.UNDER_REVIEW: ("review_timeout", OnTimeout.CANCEL),
        S.CONFIRMED: ("fulfillment_timeout", OnTimeout.CANCEL),
        S.PARTIALLY_SHIPPED: ("fulfillment_timeout", OnTimeout.CANCEL_UNSHIPPED),
        S.SHIPPED: ("delivery_timeout", OnTimeout.DELIVER),
        S.DELIVERED: ("refund_window", OnTimeout.CLOSE),
    }


def test_no_timeout_without_a_timer() -> None:
    assert all(s.stage.on_timeout is None for s in S if s.stage.timer is None)


def test_every_timer_is_a_duration_of_the_orders_policy() -> None:
    """The workflow hands the aggregate `OrderPolicy.model_dump()` as the durations."""
    durations = OrderPolicy().model_dump()
    for status in S:
        if status.stage.timer is not None:
            assert isinstance(durations[status.stage.timer], timedelta), status


@pytest.mark.parametrize("status", list(S), ids=str)
def test_a_status_waits_its_policy_duration_if_it_times_out_itself(status: OrderStatus) -> None:
    durations = OrderPolicy().model_dump()
    stage = status.stage
    expected = durations[stage.timer] if stage.timer and stage.on_timeout else None
    assert stage.timeout(durations) == expected


def test_only_the_fulfilment_timer_counts_from_the_authorization() -> None:
    assert [s for s in S if s.stage.from_authorization] == [S.CONFIRMED]
    durations = OrderPolicy().model_dump()
    for status in (S.UNDER_REVIEW, S.SHIPPED, S.DELIVERED):
        waited = timedelta(hours=20)
        assert status.stage.timeout(durations, waited_since_authorization=waited) == (
            status.stage.timeout(durations)
        )


@pytest.mark.parametrize(
    ("waited", "left"),
    [
        (None, timedelta(days=6)),
        (timedelta(hours=20), timedelta(days=6) - timedelta(hours=20)),
        (timedelta(days=6), timedelta(seconds=1)),
        (timedelta(days=9), timedelta(seconds=1)),
    ],
    ids=["not-authorized", "after-review", "at-the-end", "past-the-end"],
)
def test_fulfilment_timer_leaves_what_the_authorization_has_left_at_least_a_second(
    waited: timedelta | None, left: timedelta
) -> None:
    durations = {"fulfillment_timeout": timedelta(days=6)}
    assert S.CONFIRMED.stage.timeout(durations, waited_since_authorization=waited) == left


def test_each_status_accepts_the_commands_of_docs_orders_md() -> None:
    assert {s: s.stage.accepts for s in S if s.stage.accepts} == {
        S.ACCEPTED: {cmd.Cancel},
        S.PAYMENT_ACTION_REQUIRED: {cmd.Cancel},
        S.UNDER_REVIEW: {cmd.Cancel, cmd.Approve, cmd.Reject, cmd.Edit},
        S.CONFIRMED: {cmd.Cancel, cmd.Ship, cmd.Edit},
        S.PARTIALLY_SHIPPED: {cmd.Ship, cmd.Deliver, cmd.Edit, cmd.IssueRefund},
        S.SHIPPED: {cmd.Deliver, cmd.IssueRefund},
        S.DELIVERED: {cmd.IssueRefund, cmd.OpenReturn, cmd.ReceiveReturn, cmd.RejectReturn},
    }


def test_every_command_is_accepted_somewhere() -> None:
    accepted = set().union(*(s.stage.accepts for s in S))
    assert accepted == set(cmd.Command.__subclasses__())


@pytest.mark.parametrize("status", list(P), ids=str)
def test_only_an_authorizing_payment_is_in_flight(status: P) -> None:
    """In flight: it can only be asked to void; ended by itself: nothing left to close."""
    payment = Payment(status=status)
    assert payment.in_flight is (status in {P.AUTHORIZING, P.ACTION_REQUIRED})
    assert payment.ends_by_itself is (status in {P.FAILED, P.EXPIRED})
