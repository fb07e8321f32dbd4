"""The baseline workflows' payloads, outside their module and passed through the sandbox,
as the engine's are (workflows/contracts.py says why)."""

from __future__ import annotations

from pydantic import BaseModel

from activities.compact import Compact


class Step(Compact):
    """What every no-op activity takes: the order and what it would do. Its JSON leaves out
    the fields at their defaults, as the engine's notification requests do."""

    order_id: str
    what: str = ""
    notify: str | None = None
    """The event whose notification the step starts (the engine's record step does)."""
    queue: str = ""
    """Where that notification runs."""


class BaselineState(BaseModel):
    order_id: str
    status: str


class Report(BaseModel):
    kind: str


class PaymentStart(BaseModel):
    order_id: str
    customer_id: str
    amount: int
