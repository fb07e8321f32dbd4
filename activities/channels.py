"""The notification channels, in one registry: each name maps to its sender activity and to
the check that says whether a customer's message goes out on it.

The notification workflow asks `ChannelChoice.enabled_channels` which channels are on for
the customer, then runs each one's sender; the notifications worker registers every sender
listed here. Adding a channel is one entry in `CHANNELS`, its sender activity on
`NotificationActivities` and its words in the event templates (docs/architecture.md).
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

Sender = Callable[[NotificationActivities, NotificationRequest], Awaitable[DeliveryResult]]


@dataclass(frozen=True)
class Channel:
    send: Sender
    """The activity that delivers one message on this channel, once per delivery key."""
    enabled: Callable[[ChannelSettings, Customer], bool]
    """Whether a customer's messages go out on this channel."""


def _always(settings: ChannelSettings, customer: Customer) -> bool:
    return True


def _with_provider_and_phone(settings: ChannelSettings, customer: Customer) -> bool:
    return bool(settings.sms_provider_url and customer.phone)


def _with_merchant_endpoint(settings: ChannelSettings, customer: Customer) -> bool:
    return bool(settings.merchant_webhook_url)


CHANNELS: dict[str, Channel] = {
    "email": Channel(NotificationActivities.send_email, _always),
    "sms": Channel(NotificationActivities.send_sms, _with_provider_and_phone),
    "webhook": Channel(NotificationActivities.send_webhook, _with_merchant_endpoint),
}
"""Email always; SMS when a provider is configured and the customer has a phone; the
merchant's webhook when its URL is configured."""

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


class ChannelChoice:
    """Chooses a customer's channels from the registry, the settings and their contact details."""

    def __init__(self, store: DeliveryStore, settings: ChannelSettings) -> None:
        self._store = store
        self._settings = settings

    @activity.defn
    async def enabled_channels(self, query: ChannelQuery) -> list[str]:
        """The names of the channels on for this customer, in the registry's order."""
        try:
            customer = await self._store.customer(query.order_id, query.customer_id)
        except UnknownOrder:
            whom = query.customer_id or f"of order {query.order_id}"
            raise permanent(f"customer {whom} not found", "OrderNotFound") from None
        return [name for name, ch in CHANNELS.items() if ch.enabled(self._settings, customer)]


def notification_activities(
    senders: NotificationActivities, choice: ChannelChoice
) -> list[Callable[..., Any]]:
    """What the notifications worker runs: every channel's sender, the choice, the failure
    record."""
    return [
        *(getattr(senders, channel.send.__name__) for channel in CHANNELS.values()),
        choice.enabled_channels,
        senders.mark_failed,
    ]
