"""What crosses the boundary of a merchant webhook delivery: its ids and its workflow's input.

A delivery is one (endpoint, event occurrence), `wd_…` in `webhook_deliveries`
(docs/webhooks.md). The notification workflow delivers an event's first series to every
subscribed endpoint; a redelivery from the API is a `WebhookDeliveryWorkflow` of its own, one
per (delivery, series), on the `notifications` queue.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from activities.notifications import DeliveryPolicy

WEBHOOK_DELIVERY_WORKFLOW = "WebhookDeliveryWorkflow"
"""The workflow type of a redelivery (workflows/webhook_delivery.py)."""

SEEDED_ENDPOINT_ID = "we_env"
"""The endpoint MERCHANT_WEBHOOK_URL and MERCHANT_WEBHOOK_SECRET seed."""


def new_endpoint_id() -> str:
    return f"we_{uuid.uuid4().hex[:20]}"


def new_delivery_id() -> str:
    return f"wd_{uuid.uuid4().hex[:20]}"


def event_id(order_id: str, event: str, occurrence: int) -> str:
    """One event occurrence: the same at every endpoint and on every redelivery
    (the body's `id` and the `X-Event-Id` header), so receivers can deduplicate by it."""
    return f"evt_{order_id}_{event}_{occurrence}"


def webhook_delivery_workflow_id(delivery_id: str, series: int) -> str:
    """A redelivery's workflow: one per attempt series, so a repeated click starts no second."""
    return f"webhook-{delivery_id}-{series}"


class WebhookDelivery(BaseModel):
    """Deliver attempt series `series` of one delivery, retried inside the policy's window."""

    delivery_id: str
    series: int = Field(default=1, ge=1)
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
