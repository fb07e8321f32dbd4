"""What each channel says about an order event, rendered from the Jinja2 templates.

`templates/events/<event>.j2` holds an event's words as blocks (`subject`, `intro`, `sms`,
and optionally `greeting` and `closing`); `templates/email.txt` and `email.html` lay out the
order summary around them (lines, total, status, tracking number, refund).

An event that happens more than once names the shipment or the return of its occurrence:
occurrence n of `order_shipped` is shipment S-n and of `return_requested` return R-n; the
n-th `return_received` (or `return_rejected`) is the n-th return resolved that way. Event
data naming a `shipment_id` or `return_id` wins over that count.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any, Protocol, TypeVar

from jinja2 import Environment, FileSystemLoader, select_autoescape

from activities.mime import compose
from activities.notification_ports import DeliveryKey, OrderSummary
from activities.records import ReturnRecord, ShipmentRecord, UnitsRecord
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
    "order_updated",
    "return_requested",
    "return_received",
    "return_rejected",
    "review_required",
)
"""The customer events and the operator's `review_required` (docs/orders.md, "Notifications")."""

WEBHOOK_EVENTS = tuple(event for event in EVENTS if event != "review_required")
"""What a merchant webhook endpoint can take: the customer events (docs/webhooks.md). The
operator's `review_required` is an email to its recipient only (activities/channels.py)."""

RETURN_EVENTS = {
    "return_requested": None,
    "return_received": "received",
    "return_rejected": "rejected",
}
"""The return events, and the status of the returns they count (None: every return)."""

EVENT_STATUS = {
    "order_accepted": OrderStatus.ACCEPTED,
    "payment_action_required": OrderStatus.PAYMENT_ACTION_REQUIRED,
    "order_confirmed": OrderStatus.CONFIRMED,
    "payment_failed": OrderStatus.PAYMENT_FAILED,
    "order_delivered": OrderStatus.DELIVERED,
    "order_cancelled": OrderStatus.CANCELLED,
    "review_required": OrderStatus.UNDER_REVIEW,
}
"""The status a message reports: the event's, even when a retry runs after the next one
(`order_shipped` reports `shipped` or `partially_shipped`, from its shipment)."""

RETURN_FIELDS = {"id", "status", "lines", "reason", "refund", "requested_at", "resolved_at"}
"""What a merchant webhook shows of each return (the API's fields, money in minor units)."""


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Part = TypeVar("Part", bound=_Identified)


def _by_id(parts: list[Part], wanted: object) -> Part | None:
    return next((part for part in parts if part.id == wanted), None)


def shipment_of(order: OrderSummary, occurrence: int) -> ShipmentRecord | None:
    """The shipment an `order_shipped` notification is about: the event data's
    `shipment_id`, else S-<occurrence>, else the latest; None for an order recorded
    before shipments were listed."""
    named = _by_id(order.shipments, order.event_data.get("shipment_id"))
    nth = _by_id(order.shipments, f"S-{occurrence}")
    return named or nth or (order.shipments[-1] if order.shipments else None)


def shipped_status(order: OrderSummary, shipment: ShipmentRecord) -> str:
    """`shipped` when this shipment and the ones before it hold every unit of the order,
    else `partially_shipped` (a shipment recorded without its lines shipped everything)."""
    if not shipment.lines:
        return OrderStatus.SHIPPED
    shipped: dict[str, int] = {}
    for earlier in order.shipments[: order.shipments.index(shipment) + 1]:
        for units in earlier.lines:
            shipped[units.sku] = shipped.get(units.sku, 0) + units.quantity
    every = all(shipped.get(line.sku, 0) >= line.quantity for line in order.lines)
    return OrderStatus.SHIPPED if every else OrderStatus.PARTIALLY_SHIPPED


def return_of(order: OrderSummary, event: str, occurrence: int) -> ReturnRecord | None:
    """The return a return event is about: the event data's `return_id`; else for
    `return_requested` R-<occurrence>, for the others the `occurrence`-th return resolved
    with their status; else the latest such return."""
    status = RETURN_EVENTS[event]
    if status is None:
        counted = order.returns
        nth = _by_id(counted, f"R-{occurrence}")
    else:
        counted = sorted(
            (r for r in order.returns if r.status == status),
            key=lambda r: (r.resolved_at or r.requested_at, r.id),
        )
        nth = counted[occurrence - 1] if len(counted) >= occurrence else None
    named = _by_id(order.returns, order.event_data.get("return_id"))
    return named or nth or (counted[-1] if counted else None)


def describe_units(units: list[UnitsRecord], names: dict[str, str]) -> str:
    """Some units of the order's lines by name, as "2 \u00d7 T-shirt, blue, 1 \u00d7 Mug"."""
    return ", ".join(f"{u.quantity} \u00d7 {names.get(u.sku, u.sku)}" for u in units)


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

    def _values(self, key: DeliveryKey, order: OrderSummary) -> dict[str, Any]:
        event = key.event
        shipment: dict[str, Any] | None = order.shipment
        status: str = EVENT_STATUS.get(event, order.status)
        parcel: list[UnitsRecord] = []
        if event == "order_shipped":
            status = OrderStatus.SHIPPED
            if (found := shipment_of(order, key.occurrence)) is not None:
                shipment = found.model_dump(include={"id", "carrier", "tracking_number"})
                parcel, status = found.lines, shipped_status(order, found)
            elif order.event_data.get("tracking_number"):
                shipment = {
                    "carrier": str(order.event_data.get("carrier") or ""),
                    "tracking_number": str(order.event_data["tracking_number"]),
                }
        returned = return_of(order, event, key.occurrence) if event in RETURN_EVENTS else None
        refund = order.event_data.get("amount") if event == "refund_issued" else None
        if event == "return_received":
            refund = (returned.refund if returned else order.event_data.get("refund")) or None
        names = {line.sku: line.name for line in order.lines}
        return {
            # a line an edit removed holds nothing: the summary leaves it out
            "order": order.model_copy(update={"lines": [ln for ln in order.lines if ln.quantity]}),
            "event": order.event_data,
            "status": status,
            "shipment": shipment if event != "order_cancelled" else None,
            "partial": status == OrderStatus.PARTIALLY_SHIPPED,
            "parcel": describe_units(parcel, names),
            "ret": returned,
            "returned": describe_units(returned.lines if returned else [], names),
            "refund": refund,
            "money": lambda amount: f"{Money(int(amount), order.currency):,}",
        }

    def _blocks(self, event: str, values: dict[str, Any]) -> dict[str, str]:
        if event not in EVENTS:
            raise KeyError(f"no templates for event {event!r}")
        template = self._env.get_template(f"events/{event}.j2")
        context = template.new_context(values)
        return {name: "".join(render(context)).strip() for name, render in template.blocks.items()}

    def email(self, key: DeliveryKey, order: OrderSummary, sender: str, to: str) -> Message:
        """Subject, plain text and HTML for one event (activities/mime.py builds the message
        and refuses a header value that could inject a header)."""
        values = self._values(key, order)
        blocks = self._blocks(key.event, values)
        values["intro"] = blocks["intro"]
        values["greeting"] = blocks.get("greeting") or f"Hello {order.customer_name},"
        values["closing"] = blocks.get("closing") or "Thank you for your order."
        headers = {
            "From": sender,
            "To": to,
            "Subject": blocks["subject"],
            "Message-ID": message_id(key, sender),
            "X-Delivery-Key": str(key),
        }
        text = self._env.get_template("email.txt").render(values)
        return compose(headers, text, self._env.get_template("email.html").render(values))

    def sms(self, key: DeliveryKey, order: OrderSummary) -> str:
        """One short text."""
        return self._blocks(key.event, self._values(key, order))["sms"]

    def webhook(self, key: DeliveryKey, order: OrderSummary, created: datetime) -> bytes:
        """`{id, type, created, data}`; `id` and `created` are the same on every attempt
        (the single MERCHANT_WEBHOOK_URL's body, before endpoints)."""
        body = {
            "id": str(key),
            "type": key.event,
            "created": int(created.timestamp()),
            "data": webhook_data(order),
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    def webhook_event(self, event_id: str, event: str, order: OrderSummary, at: datetime) -> str:
        """An endpoint's delivery body `{id, type, created_at, data}` (docs/webhooks.md): `id`
        is the event id, the same at every endpoint and on every redelivery; `created_at` is
        when the event was planned for delivery, in UTC."""
        body = {
            "id": event_id,
            "type": event,
            "created_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": webhook_data(order),
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def webhook_data(order: OrderSummary) -> dict[str, Any]:
    """What a merchant webhook tells of the order and the event (money in minor units)."""
    return {
        "order": {
            "id": order.id,
            "customer_id": order.customer_id,
            "status": order.status,
            "total": {"amount": order.total, "currency": order.currency},
            "lines": [line.model_dump() for line in order.lines],
            "shipment": order.shipment,
            "shipments": [s.model_dump(mode="json") for s in order.shipments],
            "returns": [r.model_dump(mode="json", include=RETURN_FIELDS) for r in order.returns],
            "captured": order.captured,
            "refunded": order.refunded,
        },
        "event": order.event_data,
    }
