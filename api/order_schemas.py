"""The order routes' request bodies and the ids their paths and queries take (their
answers are `api/order_views.py`).

Limits the business sets (lines per order, quantity per line) are the domain's constants
(`domain/orders.py`), so the schema refuses at the edge exactly what the aggregate would."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Body, Depends, Path
from pydantic import AfterValidator, Field, StrictBool, StrictInt, StringConstraints

from api.errors import Problem
from api.schemas import Line, Lines, MoneyIn, Sku, Strict
from domain.errors import UnknownReturn, UnknownShipment
from domain.orders import MAX_LINES, MAX_QUANTITY

Text = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[Lines, StringConstraints(max_length=500)]
GivenReason = Annotated[
    Lines, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]
"""A reason the request must give (a return's, a refused return's)."""

ORDER_ID_PATTERN = r"^ord_[0-9a-f]{20}$"
"""What `place_order` makes: `ord_` and 20 hex digits."""
CUSTOMER_ID_PATTERN = r"^usr_[0-9a-f]{20}$"
"""What the user store makes: `usr_` and 20 hex digits."""
SHIPMENT_ID_PATTERN = r"^S-[1-9][0-9]{0,5}$"
"""What the order aggregate names its shipments: S-1, S-2, ..."""
RETURN_ID_PATTERN = r"^R-[1-9][0-9]{0,5}$"
"""What the order aggregate names its returns: R-1, R-2, ..."""
_ORDER_ID = re.compile(ORDER_ID_PATTERN)
_SHIPMENT_ID = re.compile(SHIPMENT_ID_PATTERN)
_RETURN_ID = re.compile(RETURN_ID_PATTERN)


def _known_shape(value: str, shape: re.Pattern[str], unknown: Exception) -> str:
    """An id that cannot be one is the same 404 as an unknown one, and never reaches
    PostgreSQL or Temporal (NUL, control characters, anything over-long)."""
    if not shape.fullmatch(value):
        raise unknown
    return value


async def _order_id(
    order_id: Annotated[
        str,
        Path(
            json_schema_extra={"pattern": ORDER_ID_PATTERN}, examples=["ord_0f9c2a7b4e5d6c1a2b3c"]
        ),
    ],
) -> str:
    return _known_shape(order_id, _ORDER_ID, Problem(404, "not-found", "no such order"))


async def _shipment_id(
    shipment_id: Annotated[
        str, Path(json_schema_extra={"pattern": SHIPMENT_ID_PATTERN}, examples=["S-1"])
    ],
) -> str:
    return _known_shape(shipment_id, _SHIPMENT_ID, UnknownShipment("no such shipment"))


async def _return_id(
    return_id: Annotated[
        str, Path(json_schema_extra={"pattern": RETURN_ID_PATTERN}, examples=["R-1"])
    ],
) -> str:
    return _known_shape(return_id, _RETURN_ID, UnknownReturn("no such return"))


OrderId = Annotated[str, Depends(_order_id)]
ShipmentId = Annotated[str, Depends(_shipment_id)]
"""A shipment of the order (`S-1`, ...); the workflow answers one it does not have with 404."""
ReturnId = Annotated[str, Depends(_return_id)]
"""A return of the order (`R-1`, ...); one it does not have is a 404."""


class LineIn(Strict):
    sku: Sku
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)


class EditLineIn(Strict):
    sku: Sku
    quantity: StrictInt = Field(ge=0, le=MAX_QUANTITY, description="the new quantity; 0 removes")


def _one_per_sku(lines: list[Any]) -> list[Any]:
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise ValueError("each sku may appear on one line only")
    return lines


Units = Annotated[
    list[LineIn], Field(min_length=1, max_length=MAX_LINES), AfterValidator(_one_per_sku)
]
"""Some units of an order's lines (a shipment's, a return's): one line per sku."""


class AddressIn(Strict):
    name: Text
    line1: Text
    line2: Annotated[Line, StringConstraints(max_length=200)] | None = None
    city: Text
    postal_code: Annotated[
        Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class PlaceOrderIn(Strict):
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    shipping_address: AddressIn
    payment_method: Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,100}$")]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "lines": [{"sku": "TSHIRT-BLUE-M", "quantity": 2}],
                    "shipping_address": {
                        "name": "Ada Lovelace",
                        "line1": "1 Main St",
                        "city": "London",
                        "postal_code": "N1 1AA",
                        "country": "GB",
                    },
                    "payment_method": "pm_card_visa",
                }
            ]
        }
    }


class CancelIn(Strict):
    reason: Reason = "cancelled"

    model_config = {"json_schema_extra": {"examples": [{"reason": "changed my mind"}]}}


class DecisionIn(Strict):
    reason: Reason = ""

    model_config = {"json_schema_extra": {"examples": [{"reason": "address verified"}]}}


OptionalDecision = Annotated[DecisionIn | None, Body()]
"""Approve and reject work without a body, as delivery does."""


class RefundIn(Strict):
    amount: MoneyIn | None = Field(default=None, description="omitted: refund the rest")
    reason: Reason = ""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"amount": {"amount": 1000, "currency": "EUR"}, "reason": "damaged item"},
            ]
        }
    }


class ShipmentIn(Strict):
    carrier: Text
    tracking_number: Annotated[
        Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    lines: Units | None = Field(default=None, description="omitted: every unshipped unit")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"carrier": "DHL", "tracking_number": "JD014600006281"},
                {
                    "carrier": "DHL",
                    "tracking_number": "JD014600006282",
                    "lines": [{"sku": "TSHIRT-BLUE-M", "quantity": 1}],
                },
            ]
        }
    }


class EditIn(Strict):
    """New, lower quantities for some lines; lines not named stay as they are."""

    lines: Annotated[
        list[EditLineIn], Field(min_length=1, max_length=MAX_LINES), AfterValidator(_one_per_sku)
    ]

    model_config = {
        "json_schema_extra": {"examples": [{"lines": [{"sku": "TSHIRT-BLUE-M", "quantity": 1}]}]}
    }


class ReturnIn(Strict):
    lines: Units
    reason: GivenReason

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"lines": [{"sku": "TSHIRT-BLUE-M", "quantity": 1}], "reason": "too small"}
            ]
        }
    }


class ReceiveReturnIn(Strict):
    restock: StrictBool = Field(
        default=True, description="put the units back on hand (false: damaged, written off)"
    )


OptionalReceipt = Annotated[ReceiveReturnIn | None, Body()]
"""Receiving a return works without a body: the units are restocked."""


class RejectReturnIn(Strict):
    reason: GivenReason

    model_config = {"json_schema_extra": {"examples": [{"reason": "the parcel was empty"}]}}
