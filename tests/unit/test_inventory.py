"""Stock: what is available to sell, and on-hand never falling below what is reserved."""

from __future__ import annotations

import pytest

from domain.errors import InvalidTransition
from domain.inventory import Stock


def test_available_is_on_hand_minus_reserved() -> None:
    assert Stock("SKU-1", on_hand=10, reserved=3).available == 7


def test_new_stock_has_nothing_reserved() -> None:
    stock = Stock("SKU-1", on_hand=10)
    assert stock.reserved == 0
    assert stock.available == 10


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        pytest.param(1, True, id="one"),
        pytest.param(7, True, id="exactly-available"),
        pytest.param(8, False, id="one-more-than-available"),
        pytest.param(0, False, id="zero"),
        pytest.param(-1, False, id="negative"),
    ],
)
def test_can_reserve_only_a_positive_quantity_within_available(
    quantity: int, expected: bool
) -> None:
    assert Stock("SKU-1", on_hand=10, reserved=3).can_reserve(quantity) is expected


def test_nothing_can_be_reserved_when_everything_is_reserved() -> None:
    assert Stock("SKU-1", on_hand=5, reserved=5).can_reserve(1) is False


def test_adjust_adds_to_on_hand_and_returns_the_new_on_hand() -> None:
    stock = Stock("SKU-1", on_hand=10, reserved=3)
    assert stock.adjust(+5) == 15
    assert stock.on_hand == 15
    assert stock.reserved == 3


def test_adjust_may_lower_on_hand_down_to_exactly_reserved() -> None:
    stock = Stock("SKU-1", on_hand=10, reserved=3)
    assert stock.adjust(-7) == 3
    assert stock.available == 0


def test_adjust_below_reserved_is_refused_and_changes_nothing() -> None:
    stock = Stock("SKU-1", on_hand=10, reserved=3)
    with pytest.raises(InvalidTransition, match="SKU-1"):
        stock.adjust(-8)
    assert stock == Stock("SKU-1", on_hand=10, reserved=3)


def test_adjust_never_takes_unreserved_stock_below_zero() -> None:
    stock = Stock("SKU-1", on_hand=2)
    assert stock.adjust(-2) == 0
    with pytest.raises(InvalidTransition):
        stock.adjust(-1)
    assert stock.on_hand == 0
