"""The sequences and the model of tests/workflow/test_order_model.py: what a random sequence
does to one order, and what the order must answer, from the record it last wrote.

The model knows the rules of docs/orders.md in the API's words (statuses, lines with their
shipped and returned units, shipments, returns, money): which command the order takes,
which it refuses, and the status, refund and units it answers with. It is written apart from
`domain/` on purpose, so that the workflow is checked against a second statement of the
rules, not against itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import strategies as st

from activities.records import OrderRecord, TimelineEntry
from domain import events as ev
from workflows.contracts import OrderPolicy

POLICY = OrderPolicy()
SMALL_PRICE, LARGE_PRICE = 2_500, 150_000  # one large unit puts the order under review
SMALL_STOCK = 3
END = timedelta(days=65)
"""Past every timer an order can have left: fulfilment, delivery, the return window and a
return's receive timeout."""

SPANS = sorted(
    {
        timedelta(minutes=1),
        POLICY.payment_action_timeout - timedelta(minutes=1),
        POLICY.payment_action_timeout + timedelta(minutes=1),
        POLICY.review_timeout - timedelta(hours=1),
        POLICY.review_timeout + timedelta(hours=1),
        POLICY.fulfillment_timeout - timedelta(days=1),
        POLICY.fulfillment_timeout + timedelta(hours=1),
        POLICY.delivery_timeout - timedelta(days=1),
        POLICY.delivery_timeout + timedelta(hours=1),
        POLICY.refund_window + timedelta(hours=1),
        POLICY.return_receive_timeout + timedelta(hours=1),
    }
)

CANCELLABLE = {"accepted", "payment_action_required", "under_review", "confirmed"}
EDITABLE = {"under_review", "confirmed", "partially_shipped"}
SHIPPABLE = {"confirmed", "partially_shipped"}
ON_THE_WAY = {"partially_shipped", "shipped"}
REFUNDABLE = {"partially_shipped", "shipped", "delivered"}
FINAL = {"cancelled", "payment_failed", "refunded", "rejected"}
TRANSIENT = (
    "reserve_stock",
    "release_stock",
    "commit_stock",
    "move_stock",
    "record_order",
    "authorize_payment",
    "capture_payment",
    "void_payment",
    "refund_payment",
    "refresh_payment",
    "send_email",
)
PROVIDER_REFUSES = {"payment-capture-failed", "refund-failed"}


# --- the sequences ----------------------------------------------------------------------

Units = tuple[tuple[str, int], ...]
"""Units of the sequence's SKUs by their part: ("small", 2), ("large", 1)."""


@dataclass(frozen=True)
class Command:
    kind: str
    """cancel, approve, reject, ship, deliver, refund, edit, open_return, receive_return
    or reject_return."""
    by: str = "customer"
    amount: int | None = None
    """Refunds: minor units, None for the rest."""
    key: str | None = None
    """Refunds: the Idempotency-Key, if any."""
    lines: Units | None = None
    """ship (None: every unit left), edit (the new quantities), open_return."""
    ref: str | None = None
    """deliver: the shipment (None: every one); receive_return, reject_return: the return."""
    restock: bool = True
    restart_while_running: bool = False
    """Restart the orders worker once the update is accepted, before it answers."""


@dataclass(frozen=True)
class Skip:
    span: timedelta


@dataclass(frozen=True)
class Restart:
    queue: str


@dataclass(frozen=True)
class CustomerAction:
    """The customer finishes 3-D Secure (or fails it); a webhook prompts the payment."""

    passed: bool


Step = Command | Skip | Restart | CustomerAction


@dataclass(frozen=True)
class Plan:
    small: int
    """Units of the sequence's small SKU (more than its stock of 3: out of stock)."""
    large: int
    """Units of the large SKU (one puts the order under review)."""
    authorize: str
    refuse: frozenset[str]
    transient: tuple[tuple[str, int], ...]
    steps: tuple[Step, ...]


restarts = st.sampled_from([False, False, False, True])
people = st.sampled_from(["customer", "operator"])


def some(low: int, high: int) -> st.SearchStrategy[Units]:
    """Units of the small SKU, the large one or both, `low` to `high` of each."""
    small = st.tuples(st.just("small"), st.integers(low, high))
    large = st.tuples(st.just("large"), st.integers(low, high))
    return st.one_of(st.tuples(small), st.tuples(large), st.tuples(small, large))


commands = st.one_of(
    st.builds(
        Command,
        kind=st.sampled_from(["cancel", "approve", "reject", "ship", "ship", "deliver"]),
        by=people,
        restart_while_running=restarts,
    ),
    st.builds(
        Command,
        kind=st.just("refund"),
        by=st.just("operator"),
        amount=st.sampled_from([None, 500, 1_000, 2_500, 1_000_000]),
        key=st.sampled_from([None, "k1", "k2"]),
        restart_while_running=restarts,
    ),
    st.builds(Command, kind=st.just("ship"), lines=some(1, 3), restart_while_running=restarts),
    st.builds(
        Command,
        kind=st.just("deliver"),
        ref=st.sampled_from(["S-1", "S-2", "S-1"]),
        restart_while_running=restarts,
    ),
    st.builds(
        Command, kind=st.just("edit"), by=people, lines=some(0, 3), restart_while_running=restarts
    ),
    st.builds(
        Command,
        kind=st.just("open_return"),
        by=people,
        lines=some(1, 2),
        restart_while_running=restarts,
    ),
    st.builds(
        Command,
        kind=st.sampled_from(["receive_return", "reject_return"]),
        ref=st.sampled_from(["R-1", "R-1", "R-2"]),
        restock=st.booleans(),
        restart_while_running=restarts,
    ),
)
steps = st.one_of(
    commands,
    commands,
    commands,
    st.builds(Skip, span=st.sampled_from(SPANS)),
    st.builds(Restart, queue=st.sampled_from(["orders", "orders", "payments"])),
    st.builds(CustomerAction, passed=st.sampled_from([True, True, False])),
)
APPROVE = Command("approve")
SHIP_ONE = Command("ship", lines=(("small", 1),))
DELIVERED = (APPROVE, Command("ship"), Command("deliver"))
RETURN_ONE = Command("open_return", lines=(("small", 1),))
STARTS: list[tuple[Step, ...]] = [
    (),
    (APPROVE, Command("edit", lines=(("small", 1),))),
    (APPROVE, SHIP_ONE, Command("edit", by="operator", lines=(("small", 1),))),
    (APPROVE, SHIP_ONE, Command("deliver", ref="S-1")),
    DELIVERED,
    (*DELIVERED, RETURN_ONE),
    (*DELIVERED, RETURN_ONE, Command("receive_return", ref="R-1")),
]
"""How a sequence may begin, so that many reach edits, split shipments and returns within
their ten steps: as it comes; the customer lowers a quantity; an operator cancels the units
left after a first shipment; partly delivered; delivered; a return open; a return received
(a step the order does not take is refused, as any other)."""
MAX_STEPS = 10


def _steps(start: tuple[Step, ...]) -> st.SearchStrategy[tuple[Step, ...]]:
    return st.lists(steps, max_size=MAX_STEPS - len(start)).map(lambda drawn: start + tuple(drawn))


plans = st.builds(
    Plan,
    small=st.sampled_from([1, 2, 2, 3, 3, SMALL_STOCK + 1]),
    large=st.sampled_from([0, 0, 1]),
    authorize=st.sampled_from(["authorize", "authorize", "decline", "three_d_secure"]),
    refuse=st.one_of(
        st.just(frozenset[str]()),
        st.just(frozenset[str]()),
        st.frozensets(st.sampled_from(["capture", "void", "refund"]), min_size=1, max_size=2),
    ),
    transient=st.lists(
        st.tuples(st.sampled_from(TRANSIENT), st.integers(1, 3)),
        max_size=2,
        unique_by=lambda t: t[0],
    ).map(tuple),
    steps=st.sampled_from(STARTS).flatmap(_steps),
)


# --- the model ------------------------------------------------------------------------------


@dataclass
class Model:
    """What the order must look like, from the answers the workflow gave so far and the
    record it last wrote."""

    plan: Plan
    order_id: str
    skus: dict[str, int]
    """Each SKU's stock before the order."""
    status: str = "pending"
    record: OrderRecord | None = None
    closed: bool = False
    """The return window closed while a return was open (the order still runs for it)."""
    keys: dict[str, str] = field(default_factory=dict)
    first_total: int | None = None
    """The order's total when it first shipped: what it must capture."""
    log: list[str] = field(default_factory=list)

    def sku(self, part: str) -> str:
        return f"{'S' if part == 'small' else 'L'}-{self.order_id}"

    def units(self, lines: Units | None) -> dict[str, int]:
        return {self.sku(part): quantity for part, quantity in lines or ()}

    def expects(self, command: Command) -> bool:
        """Whether the order takes the command (before the provider has its say)."""
        status, record = self.status, self.record
        if command.kind == "cancel":
            return status in CANCELLABLE
        if command.kind in {"approve", "reject"}:
            return status == "under_review"
        if record is None:
            return False
        if command.kind == "refund":
            if command.key is not None and command.key in self.keys:
                return self.keys[command.key] == request_hash(command)
            if status not in REFUNDABLE or self.closed:
                return False
            left = record.captured - record.refunded
            amount = left if command.amount is None else command.amount
            return 0 < amount <= left
        asked = self.units(command.lines)
        if command.kind == "ship":
            return status in SHIPPABLE and (command.lines is None or fits(asked, unshipped(record)))
        if command.kind == "deliver":
            if command.ref is None:
                return status == "shipped"
            waiting = {s.id for s in record.shipments if s.delivered_at is None}
            return status in ON_THE_WAY and command.ref in waiting
        if command.kind == "edit":
            if command.by == "customer" and record.shipments:
                return False
            return status in EDITABLE and edits(record, asked)
        if command.kind == "open_return":
            return status == "delivered" and not self.closed and fits(asked, returnable(record))
        requested = {r.id for r in record.returns if r.status == "requested"}
        return status == "delivered" and command.ref in requested  # receive, reject a return

    def refund_of(self, command: Command) -> int:
        """What taking the command refunds (0: nothing, or nothing captured)."""
        record = self.record
        if record is None or not record.captured:
            return 0
        left = record.captured - record.refunded
        if command.kind == "refund":
            return left if command.amount is None else command.amount
        price = {line.sku: line.unit_price for line in record.lines}
        if command.kind == "edit":
            quantity = {line.sku: line.quantity for line in record.lines}
            asked = self.units(command.lines)
            removed = sum(price[sku] * (quantity[sku] - q) for sku, q in asked.items())
            return min(removed, left)
        if command.kind == "receive_return":
            (back,) = [r for r in record.returns if r.id == command.ref]
            return min(sum(price[u.sku] * u.quantity for u in back.lines), left)
        return 0

    def refused_by_provider(self, command: Command, kind: str) -> bool:
        """Whether the command may be refused for good by the provider, as `kind`."""
        if kind == "payment-capture-failed":
            first = self.record is not None and not self.record.shipments
            return command.kind == "ship" and first and "capture" in self.plan.refuse
        refunds = "refund" in self.plan.refuse and self.refund_of(command) > 0
        return kind == "refund-failed" and refunds

    def after(self, command: Command, refunded: bool) -> str:
        """The status the order answers a command it took with (`refunded`: it refunded
        everything captured)."""
        fixed = {"cancel": "cancelled", "reject": "cancelled", "approve": "confirmed"}
        if command.kind in fixed:
            return fixed[command.kind]
        if refunded:
            return "refunded"
        record = self.record
        assert record is not None
        left = unshipped(record)
        delivered = {s.id for s in record.shipments if s.delivered_at is not None}
        if command.kind == "ship":
            sent = left if command.lines is None else self.units(command.lines)
            rest = sum(left.values()) - sum(sent.values())
            return "partially_shipped" if rest else "shipped"
        if command.kind == "deliver":
            arrived = {s.id for s in record.shipments} if command.ref is None else {command.ref}
            everywhere = len(delivered | arrived) == len(record.shipments)
            return "delivered" if everywhere and not left else self.status
        if command.kind == "edit" and record.shipments:
            new = {line.sku: line.quantity for line in record.lines} | self.units(command.lines)
            shipped = {line.sku: line.shipped for line in record.lines}
            if all(new[sku] == shipped[sku] for sku in left):  # nothing left to ship
                return "delivered" if len(delivered) == len(record.shipments) else "shipped"
        return self.status


def request_hash(command: Command) -> str:
    return f"refund {command.amount}"


def unshipped(record: OrderRecord) -> dict[str, int]:
    return {
        line.sku: line.quantity - line.shipped
        for line in record.lines
        if line.quantity > line.shipped
    }


def returnable(record: OrderRecord) -> dict[str, int]:
    """Units delivered and not asked back by a return received or still open."""
    delivered: Counter[str] = Counter()
    for shipment in record.shipments:
        if shipment.delivered_at is not None:
            delivered.update({u.sku: u.quantity for u in shipment.lines})
    for back in record.returns:
        if back.status in {"requested", "received"}:
            delivered.subtract({u.sku: u.quantity for u in back.lines})
    return {sku: n for sku, n in delivered.items() if n > 0}


def fits(asked: dict[str, int], available: dict[str, int]) -> bool:
    """Some units, each 1 to 100, no more than are available."""
    return bool(asked) and all(
        1 <= n <= min(available.get(sku, 0), 100) for sku, n in asked.items()
    )


def edits(record: OrderRecord, asked: dict[str, int]) -> bool:
    """New quantities that lower at least one line, none below what it shipped or above
    what it holds, leaving something on the order."""
    lines = {line.sku: line for line in record.lines}
    if not asked or any(sku not in lines for sku in asked):
        return False
    if any(not lines[sku].shipped <= q <= lines[sku].quantity for sku, q in asked.items()):
        return False
    lowers = any(q < lines[sku].quantity for sku, q in asked.items())
    kept = any(asked.get(sku, line.quantity) > 0 for sku, line in lines.items())
    return lowers and kept


NOTIFIES = {
    kind.name: kind.notify or kind.name
    for kind in ev.DomainEvent.__subclasses__()
    if kind.notify or kind is ev.ReviewRequired
}
"""Timeline entry type -> the notification it starts (the operator's review_required too)."""


def notified(timeline: list[TimelineEntry]) -> Counter[tuple[str, int]]:
    """(event, occurrence) of every notification the timeline's events start, once each."""
    seen: Counter[str] = Counter()
    told: Counter[tuple[str, int]] = Counter()
    for entry in sorted(timeline, key=lambda entry: entry.seq):
        seen[entry.type] += 1
        if entry.type in NOTIFIES:
            told[(NOTIFIES[entry.type], seen[entry.type])] += 1
    return told
