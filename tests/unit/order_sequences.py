"""Random sequences for the order aggregate (hypothesis), played as the workflow plays them.

A case places one order (one to three lines, a review threshold) and starts its payment;
then each step is a customer's or operator's command (any command, or mostly one the status
takes: ship some units or all, deliver one shipment or all, lower some quantities, open,
receive or reject a return, refund), or the order's next deadline passing, followed by the
payment's authorization report, with a `Provider` that answers the step's payment effects
(it may refuse a capture, void or refund, or not send a void asked of a payment in flight)
and a `Warehouse` that answers its stock effects as the inventory store does.

Played as `workflows/order.py` does: a report only while the authorization is not settled,
for the order's total; time moves forward (an hour a step, or to the next deadline) and
every deadline `Order.deadline` gives that time passes is decided by `Order.time_out`
before the step's command, as the workflow's timer fires; a command is checked, then
decided, then its effects are performed and settled; every `DomainError` is a refusal.
`play` yields each report, command and deadline with the order as it was before and what
came of it, so a test states its invariant over them; the failing example's trace lists
them (`note`).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import note
from hypothesis import strategies as st

from domain import commands as cmd
from domain import fulfilment as units
from domain.errors import DomainError
from domain.lifecycle import Deadline, OnTimeout
from domain.orders import Order, OrderLine
from domain.values import Actor, Units
from tests.unit.order_driving import (
    ADDRESS,
    DURATIONS,
    INTENT,
    NOW,
    Provider,
    eur,
    perform,
    report,
)

STEP = timedelta(hours=1)
"""How much time a step takes (a deadline that passes meanwhile is decided first)."""
CUSTOMER = Actor("customer", "cus-1")
OPERATOR = Actor("operator", "op-1")


@dataclass(frozen=True)
class Report:
    """The payment reports an authorization outcome. `stray`: sent even when the order
    does not wait for one, `amount_off` from the total and for `intent` (refusals)."""

    kind: str
    stray: bool = False
    amount_off: int = 0
    intent: str = INTENT


@dataclass(frozen=True)
class DeadlinePasses:
    """Time moves on to the order's next deadline (`Order.deadline`), which is decided."""


@dataclass(frozen=True)
class Next:
    """The `pick`-th (by verb) of the commands the order's status takes and can do something
    with, but those that end it (cancel, reject): most steps move the order on, so that
    sequences reach shipments, returns, refunds and the return window; other steps are any
    command at all."""

    pick: int
    reason: str = ""
    share: int | None = None
    """A refund's amount in percent of what is left to refund (None: the rest)."""
    part: int = 100
    """A shipment, edit or return takes this percent of each line's units it names (at
    least one); 100 ships every unit left (no lines) and delivers every shipment."""
    mask: int = 1
    """Which lines (bit i: the i-th line) a partial shipment, edit or return names."""
    by: Actor = OPERATOR
    """Who edits, or opens a return."""
    restock: bool = True
    avoid: frozenset[type[cmd.Command]] = frozenset()
    """Kinds of commands never picked (the case's own mix)."""

    def command(self, order: Order) -> cmd.Command | DeadlinePasses | None:
        """The command, or waiting for the next deadline where that moves the order on (a
        shipment's delivery, the return window closing, a return expiring)."""
        ends = {cmd.Cancel, cmd.Reject, *self.avoid}
        commands = [kind for kind in order.status.stage.accepts - ends if _can(order, kind)]
        commands.sort(key=lambda kind: kind.verb)
        takes: list[type[cmd.Command] | type[DeadlinePasses]] = [*commands]
        timeout = order.status.stage.on_timeout
        if timeout in {OnTimeout.DELIVER, OnTimeout.CLOSE} or order.open_returns:
            takes.append(DeadlinePasses)
        if not takes:
            return None
        kind = takes[self.pick % len(takes)]
        if kind is DeadlinePasses:
            return DeadlinePasses()
        if kind is cmd.Ship:
            whole = self.part == 100
            some = None if whole else self._some(order.unshipped)
            return cmd.Ship("DHL", "JD0001", some, actor=OPERATOR)
        if kind is cmd.Deliver:
            if self.part == 100 and not order.unshipped:
                return cmd.Deliver(self.reason, actor=OPERATOR)
            on_the_way = [s.id for s in order.shipments if s.delivered_at is None]
            shipment = on_the_way[self.pick % len(on_the_way)]
            return cmd.Deliver(self.reason, shipment, actor=OPERATOR)
        if kind is cmd.IssueRefund:
            rest = order.refundable.amount
            amount = None if self.share is None else rest * self.share // 100
            return cmd.IssueRefund(amount, self.reason, actor=OPERATOR)
        if kind is cmd.Edit:
            return cmd.Edit(self._lowered(order), self.reason, actor=self.by)
        if kind is cmd.OpenReturn:
            return cmd.OpenReturn(self._some(returnable(order)), self.reason, actor=self.by)
        if kind in {cmd.ReceiveReturn, cmd.RejectReturn}:
            back = order.open_returns[self.pick % len(order.open_returns)].id
            if kind is cmd.ReceiveReturn:
                return cmd.ReceiveReturn(back, self.restock, actor=OPERATOR)
            return cmd.RejectReturn(back, self.reason, actor=OPERATOR)
        return cmd.Approve(self.reason, actor=OPERATOR)

    def _named(self, some: Units) -> Units:
        """The lines of `some` the mask names (the first when it names none)."""
        named = tuple(item for i, item in enumerate(some) if self.mask >> i & 1)
        return named or some[:1]

    def _some(self, some: Units) -> Units:
        """Part of each named line's units, at least one."""
        return tuple((sku, max(1, n * self.part // 100)) for sku, n in self._named(some))

    def _lowered(self, order: Order) -> Units:
        """The named lines' new quantities, each lowered by part of its unshipped units;
        one unit is left when the edit would leave nothing."""
        after = {line.sku: line.quantity for line in order.lines}
        named = self._some(order.unshipped)
        for sku, n in named:
            after[sku] -= n
        if not any(after.values()):
            after[named[0][0]] = 1
        return tuple((sku, after[sku]) for sku, _ in named)


def returnable(order: Order) -> Units:
    """Units delivered and not claimed by a return (received or still open)."""
    delivered = units.delivered(order.shipments)
    claimed = units.claimed(order.returns)
    return tuple(
        (line.sku, delivered[line.sku] - claimed[line.sku])
        for line in order.lines
        if delivered[line.sku] > claimed[line.sku]
    )


def _can(order: Order, kind: type[cmd.Command]) -> bool:
    """Whether a command of this kind has something to act on (a shipment on its way, a
    unit to cancel or take back, a return open)."""
    if kind is cmd.Deliver:
        return any(s.delivered_at is None for s in order.shipments)
    if kind is cmd.Edit:
        return bool(order.unshipped)
    if kind is cmd.OpenReturn:
        return bool(returnable(order)) and not order.closed
    if kind in {cmd.ReceiveReturn, cmd.RejectReturn}:
        return bool(order.open_returns)
    return True


@dataclass(frozen=True)
class Step:
    """A command or the next deadline, then the payment's `report` if it has one (played
    while the order waits for one); the `provider` answers the payment effects of both."""

    action: cmd.Command | Next | DeadlinePasses
    report: Report | None
    provider: Provider


@dataclass(frozen=True)
class Case:
    lines: list[OrderLine]
    threshold: int
    steps: list[Step]


@dataclass
class Played:
    """One report, command or deadline: the order before it, what came of it (the whole
    decision with every settled effect, or the refusal), and for a command whether `check`
    refused it beforehand."""

    action: cmd.Command | Report | Deadline
    provider: Provider
    before: Order = field(repr=False)
    at: datetime = NOW
    outcome: cmd.Outcome | None = None
    refusal: DomainError | None = None
    checked: DomainError | None = field(default=None, repr=False)
    authorizing: bool = True
    """After the step: the authorization is not settled yet (more reports are to come)."""


# --- the stock ------------------------------------------------------------------------------


MOVES = {cmd.ReleaseStock: "release", cmd.CommitStock: "commit", cmd.Restock: "restock"}
MOVED = {"release": "released", "commit": "committed", "restock": "restocked"}


@dataclass
class Warehouse:
    """One order's stock as the inventory store keeps it (adapters/inventory_store.py):
    reserved at placement; a whole release or commit settles every unit the order still
    holds; a keyed move releases or commits at most what it still holds of each line, or
    restocks returned units, once per key (the same key again answers the first answer and
    moves nothing). Each unit moved is counted once, under what moved it."""

    placed: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    released: Counter[str] = field(default_factory=Counter)
    committed: Counter[str] = field(default_factory=Counter)
    restocked: Counter[str] = field(default_factory=Counter)
    answered: dict[str, int] = field(
        default_factory=lambda: {"release": 0, "commit": 0, "restock": 0}
    )
    """Units per kind of move, as the answers said them (a repeated key answers again)."""
    keys: dict[str, int] = field(default_factory=dict)
    late_releases: list[str] = field(default_factory=list)
    """Moves (keys, or `whole`) that released units once every unit of the order had
    shipped."""

    @classmethod
    def reserving(cls, lines: list[OrderLine]) -> Warehouse:
        placed = Counter({line.sku: line.quantity for line in lines})
        return cls(placed=placed, held=Counter(placed))

    def move(self, order: Order, effect: cmd.Effect) -> int:
        if not isinstance(effect, cmd.ReleaseStock | cmd.CommitStock | cmd.Restock):
            raise AssertionError(f"the warehouse does not perform {effect}")
        kind = MOVES[type(effect)]
        key = effect.key or kind
        if isinstance(effect, cmd.Restock):
            moved = self._keyed(key, Counter(dict(effect.lines)))
        else:
            moved = self._take(effect.lines, key)
        if moved is None:  # the key moved before: its first answer, nothing moves again
            answer = self.keys[key]
        else:
            answer = sum(moved.values())
            getattr(self, MOVED[kind]).update(moved)
            everything_shipped = order.shipments and not order.unshipped
            if kind == "release" and answer and everything_shipped:
                self.late_releases.append(effect.key or "whole")
        self.answered[kind] += answer
        return answer

    def _take(self, lines: Units | None, key: str) -> Counter[str] | None:
        """Units leaving the order's reservation: every one it holds, or the lines' (at
        most what it holds), once per key."""
        if lines is None:
            taken = +self.held
            self.held.clear()
            return taken
        held = Counter({sku: min(n, self.held[sku]) for sku, n in lines})
        moved = self._keyed(key, held)
        if moved is not None:
            self.held.subtract(moved)
        return moved

    def _keyed(self, key: str, moved: Counter[str]) -> Counter[str] | None:
        """`moved`, unless the key moved before (None)."""
        if key in self.keys:
            return None
        self.keys[key] = sum(moved.values())
        return +moved


@dataclass(frozen=True)
class Answering(Provider):
    """The step's provider for the payment, the case's warehouse for the stock."""

    warehouse: Warehouse = field(default_factory=Warehouse, repr=False, compare=False)

    def result(self, order: Order, effect: cmd.Effect) -> object:
        if isinstance(effect, cmd.ReleaseStock | cmd.CommitStock | cmd.Restock):
            return self.warehouse.move(order, effect)
        return super().result(order, effect)


# --- strategies -----------------------------------------------------------------------------

texts = st.sampled_from(["", "changed my mind", "two\nlines", "damaged", "a\x00b"])
names = st.sampled_from(["DHL", "UPS", "JD0001", "1Z999", "JD0002", "1Z\n99"])
actors = st.sampled_from([CUSTOMER, OPERATOR])
refund_amounts = st.one_of(st.none(), st.integers(-1, 3_000), st.integers(3_000, 400_000))
some_units = st.lists(
    st.tuples(st.sampled_from(["SKU-0", "SKU-1", "SKU-2", "SKU-9", "a\x00b"]), st.integers(-1, 4)),
    max_size=3,
).map(tuple)
"""Lines a command names: skus on the order or not, quantities too many, none or negative."""
return_ids = st.sampled_from(["R-1", "R-2", "R-3"])
cancels = st.sampled_from([CUSTOMER, OPERATOR]).flatmap(
    lambda actor: st.builds(cmd.Cancel, texts, st.just(actor.type), actor=st.just(actor))
)
commands: st.SearchStrategy[cmd.Command] = st.one_of(
    cancels,
    st.builds(cmd.Approve, texts, actor=actors),
    st.builds(cmd.Reject, texts, actor=actors),
    st.builds(cmd.Ship, names, names, st.one_of(st.none(), some_units), actor=actors),
    st.builds(cmd.Deliver, texts, st.sampled_from([None, "S-1", "S-2", "S-3"]), actor=actors),
    st.builds(cmd.IssueRefund, refund_amounts, texts, actor=actors),
    st.builds(cmd.Edit, some_units, texts, actor=actors),
    st.builds(cmd.OpenReturn, some_units, texts, actor=actors),
    st.builds(cmd.ReceiveReturn, return_ids, st.booleans(), actor=actors),
    st.builds(cmd.RejectReturn, return_ids, texts, actor=actors),
)
"""Any command, by a customer or an operator (the API checks who may send which)."""
kinds = st.sampled_from(["authorized"] * 12 + sorted(cmd.AUTHORIZATION_OUTCOMES))
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
    shares = st.sampled_from([None, 30, 100, 50, 10, 120, 0])
    others = {"any command": commands, "cancel": cancels, "deadline": st.just(DeadlinePasses())}
    weight = {"any command": 1, "cancel": 1, "deadline": 2}
    avoidable = [cmd.IssueRefund, cmd.Edit, cmd.ReceiveReturn, cmd.RejectReturn]

    @st.composite
    def steps(draw: st.DrawFn) -> list[Step]:
        """Swarm testing: a case mixes in only some kinds of steps besides the commands
        that move the order on, and those never pick some kinds, so that some orders get
        far (shipments, returns, deadlines while a return is open) and others are
        cancelled, time out or are sent anything at all."""
        mixed = draw(st.lists(st.sampled_from(sorted(others)), unique=True))
        avoid = draw(st.frozensets(st.sampled_from(avoidable)))
        nexts = st.builds(
            Next,
            st.integers(0, 5),
            texts,
            shares,
            part=st.sampled_from([100, 100, 50, 1]),
            mask=st.integers(1, 7),
            by=st.sampled_from([OPERATOR, OPERATOR, CUSTOMER]),
            restock=st.sampled_from([True, False]),
            avoid=st.just(avoid),
        )
        kinds = [others[kind] for kind in mixed for _ in range(weight[kind])]
        actions = st.one_of(*[nexts] * 6, *kinds)
        step = st.builds(Step, actions, st.one_of(reports, reports, st.none()), providers)
        return draw(st.lists(step, min_size=min_steps, max_size=max_steps))

    return st.builds(Case, lines, thresholds, steps())


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


@dataclass
class Run:
    """Where a case's play stands: the order, its stock, the time, the authorization."""

    case: Case
    order: Order
    warehouse: Warehouse
    now: datetime = NOW
    authorizing: bool = True

    def due(self, by: datetime | None) -> Deadline | None:
        """The order's next deadline, if it waits on one (passed by `by`, when given)."""
        if self.authorizing:  # the payment owns the wait (3-D Secure has its own timer)
            return None
        deadline = self.order.deadline(DURATIONS)
        return None if deadline is None or (by is not None and deadline.at > by) else deadline


def play(case: Case, order: Order, warehouse: Warehouse | None = None) -> Iterator[Played]:
    """Play the case's steps on `order` (just placed), one `Played` per report, command or
    deadline played; `warehouse` (reserved for the case's lines) answers the stock."""
    run = Run(case, order, warehouse or Warehouse.reserving(case.lines))
    for step in case.steps:
        run.now += STEP
        world = Answering(step.provider.refuses, step.provider.void_sent, run.warehouse)
        yield from _deadlines(run, world, step.provider)
        move = step.action.command(order) if isinstance(step.action, Next) else step.action
        if isinstance(move, DeadlinePasses):
            if (deadline := run.due(None)) is not None:
                run.now = max(run.now, deadline.at)
                yield from _deadlines(run, world, step.provider)
            move = None
        for action in (move, step.report):
            if action is None or (
                isinstance(action, Report) and not run.authorizing | action.stray
            ):
                continue  # the workflow asks for no report once the authorization is settled
            yield _played(run, action, world, step.provider)


def _deadlines(run: Run, world: Answering, provider: Provider) -> Iterator[Played]:
    """Every deadline passed by now, in turn (each decision may bring the next)."""
    for _ in range(20):
        deadline = run.due(run.now)
        if deadline is None:
            return
        yield _played(run, deadline, world, provider)
    raise AssertionError(f"deadlines keep passing at {run.now}: {run.order.deadline(DURATIONS)}")


def _played(
    run: Run, action: cmd.Command | Report | Deadline, world: Answering, provider: Provider
) -> Played:
    order, now = run.order, run.now
    played = Played(action, provider, copy.deepcopy(order), now)
    try:
        if isinstance(action, Report):
            played.outcome = _reported(order, action, run.case.threshold, now, world)
            run.authorizing = run.authorizing and not played.outcome.settled
        elif isinstance(action, Deadline):
            played.outcome = perform(order, order.time_out(action, now), world)
        else:
            played.checked = _checked(order, action)
            played.outcome = perform(order, order.decide(action, now), world)
    except DomainError as error:
        played.refusal = error
    played.authorizing = run.authorizing
    note(f"{now:%m-%d %H:%M} {action} -> {_said(played)}; {order.status}, {order.payment.status}")
    return played


def _said(played: Played) -> str:
    """What came of a step, for the failing example's trace."""
    if played.outcome is None:
        return f"refused: {played.refusal!r}"
    return ", ".join(type(e).__name__ for e in played.outcome.events) or "no event"


def _reported(
    order: Order, action: Report, threshold: int, now: datetime, world: Answering
) -> cmd.Outcome:
    update = report(
        action.kind,
        order.total.amount + action.amount_off if action.kind == "authorized" else 0,
        intent_id=action.intent,
        client_secret="sec_1" if action.kind == "action_required" else None,
    )
    return perform(order, order.authorization_reported(update, threshold, now), world)


def _checked(order: Order, command: cmd.Command) -> DomainError | None:
    try:
        order.check(command)
    except DomainError as error:
        return error
    return None
