"""Stock rules: on-hand units, reserved units, and what is available to sell."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidTransition


@dataclass
class Stock:
    """A product's stock; reserved units belong to open orders until shipped or released."""

    sku: str
    on_hand: int
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def can_reserve(self, quantity: int) -> bool:
        return 0 < quantity <= self.available

    def adjust(self, delta: int) -> int:
        """Change on-hand stock; it may never fall below what is reserved."""
        if self.on_hand + delta < self.reserved:
            raise InvalidTransition(
                f"{self.sku}: on-hand {self.on_hand}{delta:+d} would fall below reserved "
                f"{self.reserved}"
            )
        self.on_hand += delta
        return self.on_hand
