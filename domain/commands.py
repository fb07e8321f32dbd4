"""What can be asked of an order (commands) and what a decision asks the world to do
(effects).

The aggregate answers a command with an `Outcome`: the events it recorded and the effects
that must follow, in order. The workflow performs each effect (an activity, a signal to
the payment, a notification) and hands a result back to the aggregate with
`Order.settle(effect, result)`, which may record more events and ask for more effects.
So every rule stays in `domain/`, and the workflow only knows how to do things.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from domain.errors import InvalidTransition, NotCancellable, UnstorableText
from domain.text import unstorable
from domain.values import SYSTEM, Actor, Units

if TYPE_CHECKING:
    from domain.events import DomainEvent

# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A request from a customer or an operator; `verb` names it in refusals."""

    verb: ClassVar[str] = "change"
    actor: Actor = field(default=SYSTEM, kw_only=True)

    def refusal(self, status: str) -> InvalidTransition:
        """Why the order's status does not take this command."""
        return InvalidTransition(f"cannot {self.verb} an order that is {status}")

    def check_text(self) -> None:
        """Free text reaches the database: refuse what it may not store (domain/text.py).
        `reason` may span lines; names and numbers may not."""
        for name, value in vars(self).items():
            if name == "lines" and value:
                value = " ".join(sku for sku, _ in value)
            if isinstance(value, str) and (char := unstorable(value, multiline=name == "reason")):
                raise UnstorableText(f"{name} holds {char}, which is not stored")


@dataclass(frozen=True)
class Cancel(Command):
    reason: str = ""
    by: str = "customer"
    verb: ClassVar[str] = "cancel"

    def refusal(self, status: str) -> InvalidTransition:
        return NotCancellable(f"an order that is {status} cannot be cancelled")


@dataclass(frozen=True)
class Approve(Command):
    reason: str = ""
    verb: ClassVar[str] = "approve"


@dataclass(frozen=True)
class Reject(Command):
    reason: str = ""
    verb: ClassVar[str] = "reject"


@dataclass(frozen=True)
class Ship(Command):
    carrier: str = ""
    tracking_number: str = ""
    lines: Units | None = None
    """None ships every unshipped unit."""
    verb: ClassVar[str] = "ship"


@dataclass(frozen=True)
class Deliver(Command):
    reason: str = ""
    shipment_id: str | None = None
    """None delivers every shipment."""
    verb: ClassVar[str] = "deliver"


@dataclass(frozen=True)
class Edit(Command):
    """Lower quantities (0 removes the line); before the first shipment by the owner or an
    operator, after it by an operator for units not shipped (their amount is refunded)."""

    lines: Units = ()
    reason: str = ""
    verb: ClassVar[str] = "edit"


@dataclass(frozen=True)
class OpenReturn(Command):
    lines: Units = ()
    reason: str = ""
    verb: ClassVar[str] = "return units of"


@dataclass(frozen=True)
class ReceiveReturn(Command):
    return_id: str = ""
    restock: bool = True
    verb: ClassVar[str] = "receive a return of"


@dataclass(frozen=True)
class RejectReturn(Command):
    return_id: str = ""
    reason: str = ""
    verb: ClassVar[str] = "reject a return of"


@dataclass(frozen=True)
class IssueRefund(Command):
    amount: int | None = None
    """Minor units; None refunds the rest."""
    reason: str = ""
    verb: ClassVar[str] = "refund"

    def refusal(self, status: str) -> InvalidTransition:
        return InvalidTransition(f"nothing captured to refund while {status}")


# --- what the payment reports -------------------------------------------------------------


@dataclass(frozen=True)
class PaymentUpdate:
    """An outcome the payment process reported: `authorized`, `action_required`, `failed`,
    `expired`, `captured`, `capture_failed`, `voided`, `void_failed`, `refunded` or
    `refund_failed`."""

    kind: str
    intent_id: str | None = None
    amount: int = 0
    client_secret: str | None = None
    reason: str | None = None


AUTHORIZATION_OUTCOMES = frozenset(
    {"authorized", "action_required", "failed", "expired", "voided", "void_failed"}
)
"""The reports that end (or advance) an authorization."""


# --- effects --------------------------------------------------------------------------------


class Audience(StrEnum):
    CUSTOMER = "customer"
    OPERATOR = "operator"


@dataclass(frozen=True)
class ReleaseStock:
    """Give reserved units back: `lines`, or every unit still reserved when None; the
    result is how many. `key` names a partial move, so a retry moves nothing twice."""

    lines: Units | None = None
    key: str | None = None


@dataclass(frozen=True)
class CommitStock:
    """Reserved units left with a shipment: `lines`, or every unit still reserved when
    None; the result is how many."""

    lines: Units | None = None
    key: str | None = None


@dataclass(frozen=True)
class Restock:
    """Returned units are back on hand; the result is how many."""

    lines: Units
    key: str


@dataclass(frozen=True)
class Capture:
    """Capture `amount` of the authorization; the result is the payment's report. The order
    ships (`ship`) once the capture is reported."""

    amount: int
    ship: Ship


@dataclass(frozen=True)
class Void:
    """Release the card's authorization; the result is the payment's report."""


@dataclass(frozen=True)
class RequestVoid:
    """Ask a payment still authorizing to void as soon as it can; its outcome arrives later
    as an authorization report. The result is whether the request was sent."""


@dataclass(frozen=True)
class Refund:
    """Refund `amount` of the captured money; the result is the payment's report."""

    amount: int
    reason: str
    then: Command | None = None
    """What the refund is for (an edit's cancelled units, a return received): applied
    once it is refunded."""


@dataclass(frozen=True)
class Notify:
    """Tell the `audience` about `event`, the `occurrence`-th time it happens to this order.
    Performed once the decision is visible in the read model."""

    event: str
    audience: Audience
    occurrence: int = 1


Effect = ReleaseStock | CommitStock | Restock | Capture | Void | RequestVoid | Refund | Notify


@dataclass
class Outcome:
    """A decision: the events it recorded and the effects that must follow, in order.
    `changed` is True when the order changed without an event worth a timeline entry (a
    payment's status)."""

    events: list[DomainEvent] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    changed: bool = False
    settled: bool = True
    """For an authorization report: whether the authorization is over (False: more reports
    are to come, e.g. the customer must do 3-D Secure first)."""

    def then(self, other: Outcome) -> Outcome:
        return Outcome(
            self.events + other.events,
            self.effects + other.effects,
            self.changed or other.changed,
            self.settled and other.settled,
        )
