"""The order routes' answers: an order, its returns and its timeline as a caller sees them
(the requests are `api/order_schemas.py`). Money is `{amount, currency}` in minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas import MoneyOut, money
from api.security import Principal
from domain.errors import UnknownReturn
from domain.orders import OrderStatus


class LineOut(BaseModel):
    sku: str
    name: str
    quantity: int = Field(description="units the order holds now (edits lower it)")
    unit_price: MoneyOut
    total: MoneyOut
    shipped: int = Field(default=0, description="units shipped so far")
    returned: int = Field(default=0, description="units received back by returns")


class PaymentOut(BaseModel):
    status: str
    authorized: MoneyOut
    captured: MoneyOut
    refunded: MoneyOut
    client_secret: str | None = Field(
        default=None, description="only for the owner, while the status is payment_action_required"
    )


class UnitsOut(BaseModel):
    sku: str
    quantity: int


class TrackingOut(BaseModel):
    """The latest shipment's carrier and tracking number (for clients from before split
    shipments; `shipments` lists them all)."""

    carrier: str
    tracking_number: str


class ShipmentOut(BaseModel):
    id: str = Field(examples=["S-1"])
    carrier: str
    tracking_number: str
    lines: list[UnitsOut]
    shipped_at: datetime
    delivered_at: datetime | None


class ReturnOut(BaseModel):
    id: str = Field(examples=["R-1"])
    status: str = Field(description="requested, then received, rejected, expired or closed")
    lines: list[UnitsOut]
    reason: str
    refund: MoneyOut = Field(description="what receiving the return refunded")
    restock: bool = Field(True, description="whether its units went back on hand")
    resolution: str | None = Field(
        None, description="why it was rejected (the operator's reason) or expired"
    )
    requested_at: datetime
    resolved_at: datetime | None


class ReturnsOut(BaseModel):
    items: list[ReturnOut]


class OrderOut(BaseModel):
    id: str
    customer_id: str
    status: str
    lines: list[LineOut]
    total: MoneyOut
    shipping_address: dict[str, str | None]
    payment: PaymentOut
    shipments: list[ShipmentOut]
    shipment: TrackingOut | None
    returns: list[ReturnOut]
    created_at: datetime
    updated_at: datetime


class ActorOut(BaseModel):
    type: str = Field(description="customer, operator, system or stripe")
    id: str | None = Field(default=None, description="the user's id, for a customer or operator")


class EventOut(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: ActorOut
    data: dict[str, Any]


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


def return_out(row: dict[str, Any], currency: str) -> ReturnOut:
    return ReturnOut.model_validate({**row, "refund": money(row.get("refund", 0), currency)})


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
                # lines written before split shipments and returns have neither count
                shipped=line.get("shipped", 0),
                returned=line.get("returned", 0),
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
        shipments=[ShipmentOut.model_validate(s) for s in row["shipments"]],
        shipment=TrackingOut(**row["shipment"]) if row["shipment"] else None,
        returns=[return_out(r, currency) for r in row["returns"]],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def find_return(row: dict[str, Any], return_id: str | None = None) -> ReturnOut:
    """The order's return `return_id`, or its latest (the one a request just opened)."""
    found = [r for r in row["returns"] if return_id is None or r["id"] == return_id]
    if not found:
        raise UnknownReturn(f"no return {return_id}" if return_id else "the order has no return")
    return return_out(found[-1], row["currency"])
