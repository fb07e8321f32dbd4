"""The notification channels, in one registry: each name maps to its sender activity and to
the check that says whether a customer's message goes out on it.

The step that starts a notification asks `ChannelChoice.chosen` which channels are on for
the customer (activities/notification_starts.py), and the notification runs each one's
sender (one started without its channels asks `enabled_channels` itself); the
notifications worker registers every sender listed here. Adding a channel is one entry in
`CHANNELS`, its sender activity on `NotificationActivities` and its words in the event
templates (docs/architecture.md).

`webhook` is on when a merchant endpoint takes the event; the workflow then delivers it to
each such endpoint (activities/webhooks.py). `send_webhook`, the single MERCHANT_WEBHOOK_URL
sender from before endpoints, stays registered for the notifications still running that
chose it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.delivery_claims import permanent
from activities.notification_ports import ChannelSettings, Customer, DeliveryStore, UnknownOrder
from activities.notifications import DeliveryResult, NotificationActivities, NotificationRequest
from activities.webhook_ports import WebhookStore
from activities.webhooks import WebhookActivities

Sender = Callable[[NotificationActivities, NotificationRequest], Awaitable[DeliveryResult]]


@dataclass(frozen=True)
class Reach:
    """Whom an event's message can reach: the customer's contact details, and whether a
    merchant endpoint takes the event."""

    customer: Customer
    merchant_endpoint: bool = False


@dataclass(frozen=True)
class Channel:
    send: Sender
    """The activity that delivers one message on this channel, once per delivery key."""
    enabled: Callable[[ChannelSettings, Reach], bool]
    """Whether an event's message goes out on this channel."""


def _always(settings: ChannelSettings, reach: Reach) -> bool:
    return True


def _with_provider_and_phone(settings: ChannelSettings, reach: Reach) -> bool:
    return bool(settings.sms_provider_url and reach.customer.phone)


def _with_merchant_endpoint(settings: ChannelSettings, reach: Reach) -> bool:
    return reach.merchant_endpoint


CHANNELS: dict[str, Channel] = {
    "email": Channel(NotificationActivities.send_email, _always),
    "sms": Channel(NotificationActivities.send_sms, _with_provider_and_phone),
    "webhook": Channel(NotificationActivities.send_webhook, _with_merchant_endpoint),
}
"""Email always; SMS when a provider is configured and the customer has a phone; webhooks when
an enabled merchant endpoint takes the event."""

OPERATOR_CHANNELS = ("email",)
"""An operator's message (review_required) goes by email to its recipient, nowhere else."""

FALLBACK_CHANNEL = "email"
"""Every customer has it: a notification whose channels cannot be chosen (the order or its
customer is unknown, or the database stayed down for the delivery window) is delivered on
it alone, which sends it or records why not, as any delivery does."""


class ChannelQuery(BaseModel):
    order_id: str
    customer_id: str | None = None
    """None: the order's customer."""
    event: str | None = None
    """The notified event, which merchant endpoints subscribe to; None (a query recorded
    before endpoints): no webhook."""


class ChannelChoice:
    """Chooses an event's channels from the registry, the settings, the customer's contact
    details and the merchant endpoints' subscriptions."""

    def __init__(
        self, store: DeliveryStore, webhooks: WebhookStore, settings: ChannelSettings
    ) -> None:
        self._store = store
        self._webhooks = webhooks
        self._settings = settings

    async def chosen(self, query: ChannelQuery) -> list[str]:
        """The names of the channels on for this customer and event, in the registry's
        order; UnknownOrder when the read model has no such order or customer."""
        customer = await self._store.customer(query.order_id, query.customer_id)
        endpoint = query.event is not None and await self._webhooks.subscribed(query.event)
        reach = Reach(customer, merchant_endpoint=endpoint)
        return [name for name, ch in CHANNELS.items() if ch.enabled(self._settings, reach)]

    @activity.defn
    async def enabled_channels(self, query: ChannelQuery) -> list[str]:
        """`chosen`, as the step of a notification started without its channels."""
        try:
            return await self.chosen(query)
        except UnknownOrder:
            whom = query.customer_id or f"of order {query.order_id}"
            raise permanent(f"customer {whom} not found", "OrderNotFound") from None


def notification_activities(
    senders: NotificationActivities, choice: ChannelChoice, webhooks: WebhookActivities
) -> list[Callable[..., Any]]:
    """What the notifications worker runs: every channel's sender, the choice, the failure
    record, and the merchant endpoints' planning, delivery and giving up."""
    return [
        *(getattr(senders, channel.send.__name__) for channel in CHANNELS.values()),
        choice.enabled_channels,
        senders.mark_failed,
        webhooks.plan,
        webhooks.deliver,
        webhooks.give_up,
    ]
