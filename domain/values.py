"""The order's value objects: its priced lines, its address and its shipment, with the
limits a line keeps to."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str


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
