"""Random sequences for the order aggregate (hypothesis), played as the workflow plays them.

A case places one order (one to three lines, a review threshold) and starts its payment;
then each step is a customer's or operator's command (any command, or mostly one the status
takes) or the current status's timer firing, followed by the payment's authorization
report, with a `Provider` that answers the step's effects (it may refuse a capture, void or
refund, or not send a void asked of a payment in flight).

Played as `workflows/order.py` does: a report only while the authorization is not settled,
for the order's total; a command is checked, then decided, then its effects are performed
and settled; every `DomainError` is a refusal. `play` yields each report, command and timer
with the order as it was before and what came of it, so a test states its invariant over
them; the failing example's trace lists them (`note`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import note
from hypothesis import strategies as st

from domain import commands as cmd
from domain.errors import DomainError
from domain.orders import Order, OrderLine
from tests.unit.order_driving import (
    ADDRESS,
    INTENT,
    NOW,
    Provider,
    eur,
    perform,
    report,
    timeout,
)


@dataclass(frozen=True)
class Report:
    """The payment reports an authorization outcome. `stray`: sent even when the order
    does not wait for one, `amount_off` from the total and for `intent` (refusals)."""

    kind: str
    stray: bool = False
    amount_off: int = 0
    intent: str = INTENT


@dataclass(frozen=True)
class TimerFires:
    """The current status's timer fires (its whole duration has passed)."""


@dataclass(frozen=True)
class Next:
    """The `pick`-th (by verb) of the commands the order's status takes but those that end it
    (cancel, reject), with this reason and share of a refund: most steps move the order on,
    so that sequences reach shipment, refunds and the refund window; other steps are any
    command at all."""

    pick: int
    reason: str = ""
    share: int | None = None
    """A refund's amount in percent of what is left to refund (None: the rest)."""

    def command(self, order: Order) -> cmd.Command | None:
        ends = {cmd.Cancel, cmd.Reject}
        takes = sorted(order.status.stage.accepts - ends, key=lambda kind: kind.verb)
        if not takes:
            return None
        kind = takes[self.pick % len(takes)]
        if kind is cmd.Ship:
            return cmd.Ship("DHL", "JD0001")
        if kind is cmd.IssueRefund:
            rest = order.refundable.amount
            amount = None if self.share is None else rest * self.share // 100
            return cmd.IssueRefund(amount, self.reason)
        return cmd.Approve(self.reason) if kind is cmd.Approve else cmd.Deliver(self.reason)


@dataclass(frozen=True)
class Step:
    """A command or a timer, then the payment's `report` if it has one (played while the
    order waits for one); the `provider` answers the effects of both."""

    action: cmd.Command | Next | TimerFires
    report: Report | None
    provider: Provider


@dataclass(frozen=True)
class Case:
    lines: list[OrderLine]
    threshold: int
    steps: list[Step]


@dataclass
class Played:
    """One report, command or timer: the order before it, what came of it (the whole
    decision with every settled effect, or the refusal), and for a command whether `check`
    refused it beforehand."""

    action: cmd.Command | Report | TimerFires
    provider: Provider
    before: Order = field(repr=False)
    outcome: cmd.Outcome | None = None
    refusal: DomainError | None = None
    checked: DomainError | None = field(default=None, repr=False)
    authorizing: bool = True
    """After the step: the authorization is not settled yet (more reports are to come)."""


# --- strategies -----------------------------------------------------------------------------

texts = st.sampled_from(["", "changed my mind", "two\nlines", "damaged", "a\x00b"])
names = st.sampled_from(["DHL", "UPS", "JD0001", "1Z999", "JD0002", "1Z\n99"])
refund_amounts = st.one_of(st.none(), st.integers(-1, 3_000), st.integers(3_000, 400_000))
ships = st.builds(cmd.Ship, names, names)
refunds = st.builds(cmd.IssueRefund, refund_amounts, texts)
cancels = st.builds(cmd.Cancel, texts, st.sampled_from(["customer", "operator"]))
commands: st.SearchStrategy[cmd.Command] = st.one_of(
    cancels,
    st.builds(cmd.Approve, texts),
    st.builds(cmd.Reject, texts),
    st.builds(cmd.Ship, names, names),
    st.builds(cmd.Deliver, texts),
    st.builds(cmd.IssueRefund, refund_amounts, texts),
)
kinds = st.sampled_from(["authorized"] * 8 + sorted(cmd.AUTHORIZATION_OUTCOMES))
"""Every authorization outcome, `authorized` the likeliest, so that sequences reach shipment
and refunds."""
providers = st.builds(
    Provider, refuses=st.sampled_from([False] * 5 + [True]), void_sent=st.booleans()
)
lines = st.lists(
    st.tuples(st.integers(1, 3), st.sampled_from([500, 1_500, 60_000])), min_size=1, max_size=3
).map(
    lambda drawn: [
        OrderLine(f"SKU-{n}", f"Product {n}", quantity, eur(price))
        for n, (quantity, price) in enumerate(drawn)
    ]
)
thresholds = st.sampled_from([1, 5_000, 100_000, 10**9])


def cases(
    reports: st.SearchStrategy[Report], min_steps: int = 12, max_steps: int = 40
) -> st.SearchStrategy[Case]:
    shares = st.sampled_from([None, 30, 100, 50, 120, 0])
    nexts = st.builds(Next, st.integers(0, 5), texts, shares)
    actions = st.one_of(*[nexts] * 4, commands, cancels, st.just(TimerFires()))
    steps = st.lists(
        st.builds(Step, actions, st.one_of(reports, reports, st.none()), providers),
        min_size=min_steps,
        max_size=max_steps,
    )
    return st.builds(Case, lines, thresholds, steps)


sequences = cases(st.builds(Report, kinds))
"""As the workflow runs: reports only while the authorization is open, for the total."""
stray_reports = cases(
    st.builds(
        Report,
        kinds,
        stray=st.booleans(),
        amount_off=st.sampled_from([0, -1, 1]),
        intent=st.sampled_from([INTENT, "pi_2"]),
    ),
    min_steps=1,
    max_steps=10,
)
"""Reports the order must refuse too: when it does not wait for one, or for another amount."""


# --- playing a case -------------------------------------------------------------------------


def place(case: Case) -> tuple[Order, cmd.Outcome]:
    order, placed = Order.place("ord-1", "cus-1", case.lines, ADDRESS)
    order.payment_started()
    return order, placed


def play(case: Case, order: Order) -> Iterator[Played]:
    """Play the case's steps on `order` (just placed), one `Played` per report, command or
    timer played."""
    authorizing, now = True, NOW
    for step in case.steps:
        now += timedelta(hours=1)
        move = step.action.command(order) if isinstance(step.action, Next) else step.action
        for action in (move, step.report):
            if action is None or (isinstance(action, Report) and not authorizing | action.stray):
                continue  # the workflow asks for no report once the authorization is settled
            played = Played(action, step.provider, copy.deepcopy(order))
            try:
                if isinstance(action, Report):
                    played.outcome = _reported(order, action, case.threshold, now, step.provider)
                    authorizing = authorizing and not played.outcome.settled
                elif isinstance(action, TimerFires):
                    now += timeout(order, now) or timedelta()
                    played.outcome = perform(order, order.time_out(), step.provider)
                else:
                    played.checked = _checked(order, action)
                    played.outcome = perform(order, order.decide(action), step.provider)
            except DomainError as error:
                played.refusal = error
            played.authorizing = authorizing
            note(f"{action} -> {_said(played)}; {order.status}, payment {order.payment.status}")
            yield played


def _said(played: Played) -> str:
    """What came of a step, for the failing example's trace."""
    if played.outcome is None:
        return f"refused: {played.refusal!r}"
    return ", ".join(type(e).__name__ for e in played.outcome.events) or "no event"


def _reported(
    order: Order, action: Report, threshold: int, now: datetime, provider: Provider
) -> cmd.Outcome:
    update = report(
        action.kind,
        order.total.amount + action.amount_off if action.kind == "authorized" else 0,
        intent_id=action.intent,
        client_secret="sec_1" if action.kind == "action_required" else None,
    )
    return perform(order, order.authorization_reported(update, threshold, now), provider)


def _checked(order: Order, command: cmd.Command) -> DomainError | None:
    try:
        order.check(command)
    except DomainError as error:
        return error
    return None
