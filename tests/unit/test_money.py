"""Money: integer minor units of one currency; mixing currencies is refused."""

from __future__ import annotations

import dataclasses
import operator
from decimal import Decimal

import pytest

from domain.errors import CurrencyMismatch, InvalidOrder
from domain.money import Money


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def test_adding_money_sums_the_minor_units() -> None:
    assert eur(1250) + eur(99) == eur(1349)


def test_subtracting_money_may_go_below_zero() -> None:
    assert eur(500) - eur(200) == eur(300)
    assert eur(200) - eur(500) == eur(-300)


def test_multiplying_by_a_quantity_scales_the_amount() -> None:
    assert eur(1999) * 3 == eur(5997)
    assert eur(1999) * 0 == eur(0)


def test_multiplying_by_a_fraction_is_refused_because_money_never_holds_floats() -> None:
    with pytest.raises(TypeError):
        eur(100) * 1.5  # type: ignore[operator]


def test_zero_is_an_empty_amount_of_the_given_currency() -> None:
    assert Money.zero("USD") == Money(0, "USD")


def test_money_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        eur(100).amount = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        pytest.param(100, operator.lt, 200, True, id="100<200"),
        pytest.param(200, operator.lt, 200, False, id="200<200"),
        pytest.param(200, operator.le, 200, True, id="200<=200"),
        pytest.param(201, operator.le, 200, False, id="201<=200"),
        pytest.param(300, operator.gt, 200, True, id="300>200"),
        pytest.param(200, operator.gt, 200, False, id="200>200"),
        pytest.param(200, operator.ge, 200, True, id="200>=200"),
        pytest.param(199, operator.ge, 200, False, id="199>=200"),
    ],
)
def test_comparisons_order_amounts_of_the_same_currency(
    left: int, op: object, right: int, expected: bool
) -> None:
    assert op(eur(left), eur(right)) is expected  # type: ignore[operator]


def test_equality_needs_the_same_amount_and_currency() -> None:
    assert eur(100) == Money(100, "EUR")
    assert eur(100) != eur(101)
    assert eur(100) != Money(100, "USD")


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(operator.add, id="add"),
        pytest.param(operator.sub, id="sub"),
        pytest.param(operator.lt, id="lt"),
        pytest.param(operator.le, id="le"),
        pytest.param(operator.gt, id="gt"),
        pytest.param(operator.ge, id="ge"),
    ],
)
def test_combining_two_currencies_raises_currency_mismatch(op: object) -> None:
    with pytest.raises(CurrencyMismatch):
        op(eur(100), Money(100, "USD"))  # type: ignore[operator]


def test_currency_mismatch_is_an_invalid_order() -> None:
    assert issubclass(CurrencyMismatch, InvalidOrder)
    assert CurrencyMismatch.code == "currency-mismatch"


@pytest.mark.parametrize(
    "currency",
    [
        pytest.param("eur", id="lower-case"),
        pytest.param("Eur", id="mixed-case"),
        pytest.param("EU", id="too-short"),
        pytest.param("EURO", id="too-long"),
        pytest.param("", id="empty"),
        pytest.param("E1R", id="digit"),
        pytest.param("E R", id="space"),
        pytest.param("978", id="numeric-code"),
    ],
)
def test_currency_that_is_not_an_upper_case_three_letter_code_is_rejected(currency: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, currency)


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(10.0, id="float"),
        pytest.param(Decimal("10"), id="decimal"),
        pytest.param("10", id="string"),
        pytest.param(None, id="none"),
        pytest.param(True, id="bool-true"),
        pytest.param(False, id="bool-false"),
    ],
)
def test_amount_that_is_not_an_int_is_rejected(amount: object) -> None:
    with pytest.raises(TypeError, match="integer"):
        Money(amount, "EUR")  # type: ignore[arg-type]


def test_str_shows_major_units_and_currency() -> None:
    assert str(eur(123456)) == "1234.56 EUR"
    assert str(eur(5)) == "0.05 EUR"


def test_a_format_spec_formats_the_number_as_messages_show_it() -> None:
    assert f"{eur(123456789):,}" == "1,234,567.89 EUR"
    assert f"{eur(-5):,}" == "-0.05 EUR"
    assert f"{eur(123456)}" == str(eur(123456))
