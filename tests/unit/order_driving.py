"""Drive the order aggregate as the order workflow does, without Temporal.

The workflow hands the aggregate a command, report or timer, performs each effect of the
outcome in order and settles it with the result (`workflows/order.py`, `_perform`). The
unit tests do the same with a `Provider` that answers the effects, so every status is
reached through legal transitions only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from domain import commands as cmd
from domain.lifecycle import OrderStatus
from domain.money import Money
from domain.orders import Address, Order, OrderLine

S = OrderStatus
THRESHOLD = 100_000  # the default REVIEW_THRESHOLD, in minor units
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INTENT = "pi_1"
ADDRESS = Address(
    name="Ada Lovelace", line1="1 Main St", city="Berlin", postal_code="10115", country="DE"
)
DURATIONS = {
    "payment_action_timeout": timedelta(minutes=30),
    "review_timeout": timedelta(hours=24),
    "fulfillment_timeout": timedelta(days=6),
    "delivery_timeout": timedelta(days=30),
    "refund_window": timedelta(days=30),
    "return_receive_timeout": timedelta(days=30),
}
"""The default `OrderPolicy` durations, by the names `domain/lifecycle.py` uses."""


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def line(sku: str = "SKU-1", quantity: int = 1, unit_price: Money | None = None) -> OrderLine:
    return OrderLine(
        sku=sku, name=f"Product {sku}", quantity=quantity, unit_price=unit_price or eur(1500)
    )


def default_lines() -> list[OrderLine]:
    """Two lines, three units, totalling 3500 EUR cents: well below the review threshold."""
    return [line("SKU-1", 2, eur(1500)), line("SKU-2", 1, eur(500))]


TOTAL = eur(3500)
UNITS = 3


def place(lines: list[OrderLine] | None = None, *, started: bool = True) -> Order:
    """A placed order whose payment is authorizing (as the workflow starts it at once)."""
    order, _ = Order.place("ord-1", "cus-1", default_lines() if lines is None else lines, ADDRESS)
    if started:
        order.payment_started()
    return order


def report(
    kind: str,
    amount: int = 0,
    *,
    intent_id: str = INTENT,
    client_secret: str | None = None,
    reason: str | None = None,
) -> cmd.PaymentUpdate:
    """What the payment process reports, for the order's intent."""
    return cmd.PaymentUpdate(kind, intent_id, amount, client_secret, reason)


@dataclass(frozen=True)
class Provider:
    """How the world answers the effects: stock moves every unit; the payment does what it
    is asked unless it `refuses` (capture, void, refund); a void asked of a payment still
    in flight is sent unless `void_sent` is False (histories from before that patch)."""

    refuses: bool = False
    void_sent: bool = True

    def result(self, order: Order, effect: cmd.Effect) -> object:
        match effect:
            case cmd.ReleaseStock(lines=None):  # every unit still reserved: those not shipped
                return sum(quantity for _, quantity in order.unshipped)
            case cmd.CommitStock(lines=None):  # the last shipment took every unit left
                return (
                    sum(quantity for _, quantity in order.shipment.lines) if order.shipment else 0
                )
            case (
                cmd.ReleaseStock(lines=lines)
                | cmd.CommitStock(lines=lines)
                | cmd.Restock(lines=lines)
            ):
                return sum(quantity for _, quantity in lines or ())
            case cmd.RequestVoid():
                return self.void_sent
            case cmd.Capture(amount=amount):
                return self._answer("captured", amount, "capture_failed")
            case cmd.Void():
                return self._answer("voided", 0, "void_failed")
            case cmd.Refund(amount=amount):
                return self._answer("refunded", amount, "refund_failed")
        raise AssertionError(f"the provider does not perform {effect}")

    def _answer(self, done: str, amount: int, refused: str) -> cmd.PaymentUpdate:
        if self.refuses:
            return report(refused, reason=f"{refused.replace('_', ' ')} by the provider")
        return report(done, amount)


OK = Provider()


def perform(
    order: Order, outcome: cmd.Outcome, provider: Provider = OK, *, at: datetime | None = None
) -> cmd.Outcome:
    """Perform the outcome's effects in order, settling each as the workflow does (`at`
    the time each is settled); the answer is the whole decision: every event recorded and
    every effect asked, in order."""
    whole, pending = outcome, list(outcome.effects)
    while pending:
        effect = pending.pop(0)
        if isinstance(effect, cmd.Notify):
            continue
        follow = order.settle(effect, provider.result(order, effect), at)
        pending += follow.effects
        whole = whole.then(follow)
    return whole


def act(order: Order, command: cmd.Command, provider: Provider = OK) -> cmd.Outcome:
    """Decide `command` and perform what follows."""
    return perform(order, order.decide(command), provider)


def authorize(order: Order, threshold: int = THRESHOLD, at: datetime = NOW) -> cmd.Outcome:
    """The payment reports the order's total authorized."""
    outcome = order.authorization_reported(report("authorized", order.total.amount), threshold, at)
    return perform(order, outcome)


def timeout(order: Order, now: datetime) -> timedelta | None:
    """How long the order still waits in its status at `now`, as the workflow asks the
    table: a timer that counts from the authorization is given the time waited since."""
    stage = order.status.stage
    waited = None
    if stage.from_authorization and order.authorized_at is not None:
        waited = now - order.authorized_at
    return stage.timeout(DURATIONS, waited_since_authorization=waited)


def effects_of(outcome: cmd.Outcome, kind: type) -> list[cmd.Effect]:
    return [e for e in outcome.effects if isinstance(e, kind)]


def ship(order: Order) -> cmd.Outcome:
    return act(order, cmd.Ship("DHL", "JD0001"))


def _shipped(order: Order) -> None:
    authorize(order)
    ship(order)


def _delivered(order: Order) -> None:
    _shipped(order)
    act(order, cmd.Deliver())


def _partially_shipped(order: Order) -> None:
    authorize(order)
    act(order, cmd.Ship("DHL", "JD0001", (("SKU-1", 1),)))


def _refunded(order: Order) -> None:
    _shipped(order)
    act(order, cmd.IssueRefund(None, "damaged"))


_PATHS: dict[OrderStatus, Callable[[Order], object]] = {
    S.ACCEPTED: lambda o: None,
    S.PAYMENT_ACTION_REQUIRED: lambda o: o.authorization_reported(
        report("action_required", client_secret="pi_1_secret"), THRESHOLD, NOW
    ),
    S.UNDER_REVIEW: lambda o: authorize(o, threshold=o.total.amount),
    S.CONFIRMED: authorize,
    S.PARTIALLY_SHIPPED: _partially_shipped,
    S.SHIPPED: _shipped,
    S.DELIVERED: _delivered,
    S.PAYMENT_FAILED: lambda o: perform(
        o, o.authorization_reported(report("failed", reason="card_declined"), THRESHOLD, NOW)
    ),
    S.CANCELLED: lambda o: act(o, cmd.Cancel("changed my mind")),
    S.REFUNDED: _refunded,
}


def order_in(status: OrderStatus) -> Order:
    """A placed order driven to `status`; shipped and delivered orders have been captured."""
    order = place()
    _PATHS[status](order)
    assert order.status is status
    return order


def changes(before: Order, after: Order) -> dict[str, tuple[object, object]]:
    """Each field of the order that differs: (before, after); the context of the decision
    last made (its actor and time, private fields) is not the order's state."""
    now, then = vars(after), vars(before)
    return {
        name: (then[name], now[name])
        for name in then
        if now[name] != then[name] and not name.startswith("_")
    }


def unchanged(order: Order, *, learns_intent: str | None = None) -> Callable[[], None]:
    """Snapshot `order`; the returned check asserts nothing about it has changed (but the
    payment's intent id, when a report made `learns_intent` known)."""
    before = copy.deepcopy(order)
    if learns_intent is not None:
        before.payment = replace(before.payment, intent_id=learns_intent)

    def check() -> None:
        assert not (changed := changes(before, order)), f"a refusal changed: {changed}"

    return check
