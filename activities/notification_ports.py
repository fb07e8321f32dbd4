"""What the notification activities need from the outside world, as ports.

The activities and the channel registry depend on these Protocols and models only; the
adapters (PostgreSQL store, SMTP mailer, SMS provider, merchant webhooks) implement them and
`workers/notifications.py` wires the real ones in, so `activities/` never imports `adapters/`
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.message import Message
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from activities.records import OrderRecord


class DeliveryKey(BaseModel):
    """A delivery's identity: one that is `sent` is never sent again.

    `occurrence` counts the times the order notified the same event (a second partial refund
    is a second `refund_issued`); the first keeps the text it always had, so receivers that
    deduplicate still see a resend of it as one message.
    """

    order_id: str
    event: str
    channel: str
    occurrence: int = 1

    def __str__(self) -> str:
        base = f"{self.order_id}/{self.event}/{self.channel}"
        return base if self.occurrence == 1 else f"{base}/{self.occurrence}"


class Claim(BaseModel):
    """What `claim` found: go ahead, already sent, or held by another live attempt."""

    outcome: Literal["claimed", "sent", "busy"]
    created_at: datetime
    """When the delivery was first attempted: stable across retries (the webhook's `created`)."""


class OrderSummary(OrderRecord):
    """The order as the read model holds it, with its customer and the notified event's data."""

    customer_name: str
    email: str
    phone: str | None = None
    event_data: dict[str, Any] = {}


class Customer(BaseModel):
    """Whom a customer's message can reach: what a channel's `enabled` check looks at
    (activities/channels.py, `Reach`)."""

    id: str
    email: str
    phone: str | None = None


class UnknownOrder(Exception):
    """A delivery names an order (or customer) the read model does not have."""


class SmsRejected(Exception):
    """The SMS provider refused the message for good (4xx other than 408 and 429)."""


class EmailRejected(Exception):
    """The mailer cannot send the message at all, on any attempt: an address that cannot go
    on the SMTP command line (whitespace, a quote or an angle bracket outside a quoted local
    part), found before anything is sent."""


class DeliveryStore(Protocol):
    """Delivery claims and outcomes, and the order and customer a message is about."""

    async def claim(
        self, key: DeliveryKey, token: str, lease: timedelta, delivery_key: str
    ) -> Claim: ...

    async def mark_sent(self, key: DeliveryKey) -> None: ...

    async def release(self, key: DeliveryKey, token: str, error: str) -> None: ...

    async def mark_failed(
        self, key: DeliveryKey, error: str, *, after_attempts: bool = False
    ) -> None: ...

    async def summary(self, order_id: str, event: str, occurrence: int) -> OrderSummary: ...

    async def customer(self, order_id: str, customer_id: str | None) -> Customer:
        """The customer `customer_id`, or the order's when it is None; UnknownOrder if none."""
        ...


class MailSender(Protocol):
    @property
    def sender(self) -> str: ...

    async def send(self, message: Message, accepted: Callable[[], Awaitable[None]]) -> None:
        """Raises `EmailRejected` for a message no retry can send."""
        ...


class SmsSender(Protocol):
    @property
    def configured(self) -> bool: ...

    async def send(self, to: str, body: str, idempotency_key: str) -> None: ...


class WebhookSender(Protocol):
    """The single MERCHANT_WEBHOOK_URL's sender from before endpoints (`send_webhook`, kept
    for the notifications still running that chose it)."""

    @property
    def configured(self) -> bool: ...

    async def post(self, body: bytes) -> None: ...


class ChannelSettings(Protocol):
    """The settings a channel's `enabled` check reads (adapters.settings.Settings has them);
    webhooks depend on the merchant's endpoints instead (activities/webhook_ports.py)."""

    @property
    def sms_provider_url(self) -> str: ...
