"""Notification activities (task queue `notifications`): render and deliver once per key."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.mailer import Mailer
from adapters.notification_store import NotificationStore

SUBJECTS = {
    "order_accepted": (
        "We received your order {id}",
        "We received your order and are authorizing your payment.",
    ),
    "payment_action_required": (
        "Action needed to pay for order {id}",
        "Your bank asks you to confirm the payment. Please complete it in the shop.",
    ),
    "order_confirmed": (
        "Order {id} is confirmed",
        "Your payment is authorized and your order is confirmed. We will tell you when it ships.",
    ),
    "payment_failed": (
        "Payment for order {id} failed",
        "Your payment could not be authorized, so the order was not placed. "
        "You have not been charged.",
    ),
    "order_shipped": ("Order {id} has shipped", "Your order is on its way."),
    "order_delivered": ("Order {id} was delivered", "Your order was delivered. Enjoy!"),
    "order_cancelled": (
        "Order {id} was cancelled",
        "Your order was cancelled and any payment hold released or refunded.",
    ),
    "refund_issued": ("Refund for order {id}", "We issued a refund for your order."),
    "review_required": ("Order {id} needs review", "An order is waiting for an operator decision."),
}
"""Subject and opening sentence per event (SPEC §4.3)."""


class NotificationRequest(BaseModel):
    """One delivery: the key is (order_id, event, channel)."""

    order_id: str
    event: str
    channel: str
    recipient: str | None = None
    """Overrides the customer's address (operator messages)."""


class DeliveryResult(BaseModel):
    status: str
    duplicate: bool = False


class FailureInput(BaseModel):
    request: NotificationRequest
    error: str


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency}"


class NotificationActivities:
    """Email through SMTP; delivery state is recorded in PostgreSQL."""

    def __init__(self, store: NotificationStore, mailer: Mailer) -> None:
        self._store = store
        self._mailer = mailer
        self._templates = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
        )

    def render(self, request: NotificationRequest, ctx: dict[str, Any]) -> EmailMessage:
        """Build the message (plain text and HTML) for one event."""
        subject, intro = SUBJECTS[request.event]
        currency = ctx["currency"]
        refund = ctx["event_data"].get("amount") if request.event == "refund_issued" else None
        values = {
            "customer_name": ctx["customer_name"],
            "intro": intro,
            "order": {**ctx, "lines": ctx["lines"], "total": ctx["total"]},
            "refund": refund,
            "money": lambda amount: _money(amount, currency),
        }
        message = EmailMessage()
        message["From"] = self._mailer.sender
        message["To"] = request.recipient or ctx["email"]
        message["Subject"] = subject.format(id=ctx["id"])
        message["Message-ID"] = make_msgid(idstring=f"{request.order_id}.{request.event}")
        message["X-Delivery-Key"] = f"{request.order_id}/{request.event}/{request.channel}"
        message.set_content(self._templates.get_template("email.txt").render(values))
        message.add_alternative(
            self._templates.get_template("email.html").render(values), subtype="html"
        )
        return message

    @activity.defn
    async def send_email(self, request: NotificationRequest) -> DeliveryResult:
        """Send unless this delivery key was sent already; SMTP errors are retried."""
        previous = await self._store.begin_attempt(request.order_id, request.event, request.channel)
        if previous == "sent":
            return DeliveryResult(status="sent", duplicate=True)
        ctx = await self._store.context(request.order_id, request.event)
        if ctx is None:
            raise ApplicationError(f"order {request.order_id} not found", type="OrderNotFound")
        message = self.render(request, ctx)
        try:
            await self._mailer.send(message)
        except Exception as error:
            await self._store.mark(
                request.order_id,
                request.event,
                request.channel,
                status="pending",
                error=f"{type(error).__name__}: {error}",
            )
            raise
        await self._store.mark(request.order_id, request.event, request.channel, status="sent")
        return DeliveryResult(status="sent")

    @activity.defn
    async def mark_failed(self, inp: FailureInput) -> None:
        """Retries ran out: record the delivery as failed with the last error."""
        r = inp.request
        await self._store.mark(r.order_id, r.event, r.channel, status="failed", error=inp.error)
