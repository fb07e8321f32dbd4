"""The order as the read model holds it: what the order workflow writes after each
transition and the API reads back. Plain models with no storage in them, so the workflow,
its activities and the store (adapters/order_store.py) share them without depending on
each other."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LineRecord(BaseModel):
    sku: str
    name: str
    quantity: int
    """Units the order holds now (edits lower it; never below `shipped`)."""
    unit_price: int
    total: int
    shipped: int = 0
    returned: int = 0
    """Units received back by returns."""


class UnitsRecord(BaseModel):
    """Some units of one line (a shipment's, a return's, an edit's)."""

    sku: str
    quantity: int


class ShipmentRecord(BaseModel):
    id: str
    carrier: str
    tracking_number: str
    lines: list[UnitsRecord]
    shipped_at: datetime
    delivered_at: datetime | None = None


class ReturnRecord(BaseModel):
    """A return (RMA): `requested`, then `received`, `rejected` or `expired`."""

    id: str
    status: str
    lines: list[UnitsRecord]
    reason: str
    refund: int = 0
    """Minor units refunded when it was received."""
    restock: bool = True
    requested_at: datetime
    resolved_at: datetime | None = None
    resolution: str | None = None
    """Why it was rejected (or expired)."""


class ActorRecord(BaseModel):
    """Who caused a timeline event: `customer`, `operator`, `system` or `stripe`, and the
    user's id where there is one."""

    type: str = "system"
    id: str | None = None


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
    """The latest shipment's carrier and tracking number (kept for older clients)."""
    shipments: list[ShipmentRecord] = []
    returns: list[ReturnRecord] = []
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
    actor: ActorRecord = ActorRecord()
    data: dict[str, Any]
