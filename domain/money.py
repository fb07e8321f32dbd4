"""Money in integer minor units with an ISO 4217 currency; never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.errors import CurrencyMismatch


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of minor units (cents) of one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if len(self.currency) != 3 or not all("A" <= c <= "Z" for c in self.currency):
            raise ValueError(f"currency must be an upper-case ISO 4217 code, got {self.currency!r}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("amount must be an integer number of minor units")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return format(self, "")

    def __format__(self, spec: str) -> str:
        """`f"{price}"` is `1234.56 EUR`; a spec formats the number: `f"{price:,}"` is
        `1,234.56 EUR` (the messages' form)."""
        return f"{Decimal(self.amount).scaleb(-2):{spec}.2f} {self.currency}"
