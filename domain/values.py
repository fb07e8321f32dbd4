"""The order's value objects: its priced lines, its address and its shipment, with the
limits a line keeps to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import CurrencyMismatch, InvalidOrder, UnstorableText
from domain.money import Money
from domain.text import unstorable

MAX_QUANTITY = 100
MAX_LINES = 100


@dataclass(frozen=True)
class OrderLine:
    """One priced line of an order."""

    sku: str
    name: str
    quantity: int
    unit_price: Money

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Address:
    """Where the order ships to."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None

    def check(self) -> None:
        """Refuse text the database may not store, before any stock is reserved."""
        for name, value in vars(self).items():
            if value is not None and (char := unstorable(value)):
                raise UnstorableText(f"shipping_address.{name} holds {char}, which is not stored")


Units = tuple[tuple[str, int], ...]
"""Some units of an order's lines: (sku, quantity) pairs, one per sku, in the order's line
order."""


@dataclass(frozen=True)
class Actor:
    """Who caused an event: `customer`, `operator`, `system` or `stripe`, with the user id
    where there is one."""

    type: str = "system"
    id: str | None = None


SYSTEM = Actor("system")
STRIPE = Actor("stripe")


@dataclass(frozen=True)
class Shipment:
    """Units that left together: `id` is S-1, S-2, ... in the order they shipped."""

    carrier: str
    tracking_number: str
    id: str = "S-1"
    lines: Units = ()
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CLOSED = "closed"
    """Still open when everything captured was refunded otherwise: nothing left to refund."""


@dataclass(frozen=True)
class Return:
    """A return (RMA) of delivered units: `id` is R-1, R-2, ...; `refund` is what its
    receipt refunded (minor units)."""

    id: str
    lines: Units
    reason: str
    requested_at: datetime
    status: ReturnStatus = ReturnStatus.REQUESTED
    refund: int = 0
    restock: bool = True
    resolved_at: datetime | None = None
    resolution: str | None = None

    @property
    def open(self) -> bool:
        return self.status == ReturnStatus.REQUESTED


def validate_quantity(quantity: int) -> None:
    """Quantities are 1 to 100 per line."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(f"quantity must be between 1 and {MAX_QUANTITY}, got {quantity}")


def validate_lines(lines: list[OrderLine]) -> None:
    """An order has 1 to 100 lines, one per sku, 1 to 100 of each, in one currency."""
    if not lines:
        raise InvalidOrder("an order needs at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidOrder(f"an order has at most {MAX_LINES} lines")
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise InvalidOrder("each sku may appear on one line only")
    for line in lines:
        validate_quantity(line.quantity)
    currencies = {line.unit_price.currency for line in lines}
    if len(currencies) > 1:
        raise CurrencyMismatch(f"lines mix currencies: {', '.join(sorted(currencies))}")
