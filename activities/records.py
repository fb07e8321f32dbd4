"""The order as the read model holds it: what the order workflow writes after each
transition and the API reads back. Plain models with no storage in them, so the workflow,
its activities and the store (adapters/order_store.py) share them without depending on
each other."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class LineRecord(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: int
    total: int


class OrderRecord(BaseModel):
    """An order as the read model stores it; `version` grows with every transition."""

    id: str
    customer_id: str
    status: str
    currency: str
    total: int
    lines: list[LineRecord]
    shipping_address: dict[str, str | None]
    payment_status: str
    payment_intent_id: str | None = None
    client_secret: str | None = None
    authorized: int = 0
    captured: int = 0
    refunded: int = 0
    shipment: dict[str, str] | None = None
    version: int
    decided_at: int = 0
    """The workflow history's length when the transition was decided (see `SAVE`)."""
    created_at: datetime
    updated_at: datetime


class TimelineEntry(BaseModel):
    """One event of an order's timeline (`GET /v1/orders/{id}/events`)."""

    seq: int
    type: str
    at: datetime
    data: dict[str, str | int | None]
