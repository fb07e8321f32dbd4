"""The order routes' request and response bodies, and the ids their paths and queries take.

Limits the business sets (lines per order, quantity per line) are the domain's constants
(`domain/orders.py`), so the schema refuses at the edge exactly what the aggregate would."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, Path
from pydantic import BaseModel, Field, StrictInt, StringConstraints

from api.errors import Problem
from api.schemas import Line, Lines, MoneyIn, MoneyOut, Sku, Strict, money
from api.security import Principal
from domain.orders import MAX_LINES, MAX_QUANTITY, OrderStatus

Text = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[Lines, StringConstraints(max_length=500)]

ORDER_ID_PATTERN = r"^ord_[0-9a-f]{20}$"
"""What `place_order` makes: `ord_` and 20 hex digits."""
CUSTOMER_ID_PATTERN = r"^usr_[0-9a-f]{20}$"
"""What the user store makes: `usr_` and 20 hex digits."""
_ORDER_ID = re.compile(ORDER_ID_PATTERN)


async def _order_id(
    order_id: Annotated[
        str,
        Path(
            json_schema_extra={"pattern": ORDER_ID_PATTERN}, examples=["ord_0f9c2a7b4e5d6c1a2b3c"]
        ),
    ],
) -> str:
    """An id that cannot be an order's is the same 404 as an unknown order (and never reaches
    PostgreSQL or Temporal)."""
    if not _ORDER_ID.fullmatch(order_id):
        raise Problem(404, "not-found", "no such order")
    return order_id


OrderId = Annotated[str, Depends(_order_id)]


class LineIn(Strict):
    sku: Sku
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)


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


class LineOut(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: MoneyOut
    total: MoneyOut


class PaymentOut(BaseModel):
    status: str
    authorized: MoneyOut
    captured: MoneyOut
    refunded: MoneyOut
    client_secret: str | None = Field(
        default=None, description="only for the owner, while the status is payment_action_required"
    )


class ShipmentOut(BaseModel):
    carrier: str
    tracking_number: str


class OrderOut(BaseModel):
    id: str
    customer_id: str
    status: str
    lines: list[LineOut]
    total: MoneyOut
    shipping_address: dict[str, str | None]
    payment: PaymentOut
    shipment: ShipmentOut | None
    created_at: datetime
    updated_at: datetime


class EventOut(BaseModel):
    seq: int
    type: str
    at: datetime
    data: dict[str, str | int | None]


class NotificationOut(BaseModel):
    event: str
    occurrence: int = Field(
        description="1 for the event's first time, 2 for its second (a second refund), …"
    )
    channel: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


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

    model_config = {
        "json_schema_extra": {"examples": [{"carrier": "DHL", "tracking_number": "JD014600006281"}]}
    }


def order_out(row: dict[str, Any], viewer: Principal) -> OrderOut:
    """The order as `viewer` sees it: the payment's client secret only for its owner, and
    only while the payment waits for them (3-D Secure)."""
    currency = row["currency"]
    owner = viewer.user_id == row["customer_id"]
    waiting = row["status"] == OrderStatus.PAYMENT_ACTION_REQUIRED
    return OrderOut(
        id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        lines=[
            LineOut(
                sku=line["sku"],
                name=line["name"],
                quantity=line["quantity"],
                unit_price=money(line["unit_price"], currency),
                total=money(line["total"], currency),
            )
            for line in row["lines"]
        ],
        total=money(row["total"], currency),
        shipping_address=row["shipping_address"],
        payment=PaymentOut(
            status=row["payment_status"],
            authorized=money(row["authorized"], currency),
            captured=money(row["captured"], currency),
            refunded=money(row["refunded"], currency),
            client_secret=row["client_secret"] if owner and waiting else None,
        ),
        shipment=ShipmentOut(**row["shipment"]) if row["shipment"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
