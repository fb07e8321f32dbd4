"""What each channel says about an order event, rendered from the Jinja2 templates.

`templates/events/<event>.j2` holds an event's words as blocks (`subject`, `intro`, `sms`,
and optionally `greeting` and `closing`); `templates/email.txt` and `email.html` lay out the
order summary around them (lines, total, status, tracking number, refund).
"""

from __future__ import annotations

import json
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from activities.notification_ports import DeliveryKey, OrderSummary
from domain.lifecycle import OrderStatus
from domain.money import Money

EVENTS = (
    "order_accepted",
    "payment_action_required",
    "order_confirmed",
    "payment_failed",
    "order_shipped",
    "order_delivered",
    "order_cancelled",
    "refund_issued",
    "review_required",
)
"""The customer events and the operator's `review_required` (docs/orders.md, "Notifications")."""

EVENT_STATUS = {
    "order_accepted": OrderStatus.ACCEPTED,
    "payment_action_required": OrderStatus.PAYMENT_ACTION_REQUIRED,
    "order_confirmed": OrderStatus.CONFIRMED,
    "payment_failed": OrderStatus.PAYMENT_FAILED,
    "order_shipped": OrderStatus.SHIPPED,
    "order_delivered": OrderStatus.DELIVERED,
    "order_cancelled": OrderStatus.CANCELLED,
    "review_required": OrderStatus.UNDER_REVIEW,
}
"""The status a message reports: the event's, even when a retry runs after the next one."""


def message_id(key: DeliveryKey, sender: str) -> str:
    """Stable for a delivery key, so a resent message is recognisably the same message; a
    later occurrence of the event is another message (the first keeps its old id)."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "localhost"
    local = f"{key.order_id}.{key.event}.{key.channel}"
    if key.occurrence > 1:
        local += f".{key.occurrence}"
    return f"<{local}@{domain}>"


class Messages:
    """Renders a delivery's email, SMS text or webhook body; no I/O besides the templates."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
        )

    def _values(self, event: str, order: OrderSummary) -> dict[str, Any]:
        shipment = order.shipment
        if event == "order_shipped" and order.event_data.get("tracking_number"):
            shipment = {
                "carrier": str(order.event_data.get("carrier") or ""),
                "tracking_number": str(order.event_data["tracking_number"]),
            }
        refund = order.event_data.get("amount") if event == "refund_issued" else None
        return {
            "order": order,
            "event": order.event_data,
            "status": EVENT_STATUS.get(event, order.status),
            "shipment": shipment if event != "order_cancelled" else None,
            "refund": refund,
            "money": lambda amount: f"{Money(int(amount), order.currency):,}",
        }

    def _blocks(self, event: str, values: dict[str, Any]) -> dict[str, str]:
        if event not in EVENTS:
            raise KeyError(f"no templates for event {event!r}")
        template = self._env.get_template(f"events/{event}.j2")
        context = template.new_context(values)
        return {name: "".join(render(context)).strip() for name, render in template.blocks.items()}

    def email(self, key: DeliveryKey, order: OrderSummary, sender: str, to: str) -> EmailMessage:
        """Subject, plain text and HTML for one event."""
        values = self._values(key.event, order)
        blocks = self._blocks(key.event, values)
        values["intro"] = blocks["intro"]
        values["greeting"] = blocks.get("greeting") or f"Hello {order.customer_name},"
        values["closing"] = blocks.get("closing") or "Thank you for your order."
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = blocks["subject"]
        message["Message-ID"] = message_id(key, sender)
        message["X-Delivery-Key"] = str(key)
        message.set_content(self._env.get_template("email.txt").render(values))
        message.add_alternative(self._env.get_template("email.html").render(values), subtype="html")
        return message

    def sms(self, key: DeliveryKey, order: OrderSummary) -> str:
        """One short text."""
        return self._blocks(key.event, self._values(key.event, order))["sms"]

    def webhook(self, key: DeliveryKey, order: OrderSummary, created: datetime) -> bytes:
        """`{id, type, created, data}`; `id` and `created` are the same on every attempt."""
        body = {
            "id": str(key),
            "type": key.event,
            "created": int(created.timestamp()),
            "data": {
                "order": {
                    "id": order.id,
                    "customer_id": order.customer_id,
                    "status": order.status,
                    "total": {"amount": order.total, "currency": order.currency},
                    "lines": [line.model_dump() for line in order.lines],
                    "shipment": order.shipment,
                    "captured": order.captured,
                    "refunded": order.refunded,
                },
                "event": order.event_data,
            },
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
