"""Notification activities (queue `notifications`): each channel's sender and the failure
record, and the requests and results that cross the notification workflow's boundary.

A sender delivers one message per delivery key (order, event, channel, occurrence), once:
activities/delivery_claims.py explains how an attempt claims its key and what is left of
"once" when a receiver's answer is lost. The activities reach the outside world through
activities/notification_ports.py; workers/notifications.py passes in the real store,
mailer, SMS gateway and webhooks, and activities/channels.py lists the channels.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import BaseModel, Field, model_validator
from temporalio import activity

from activities.compact import Compact
from activities.delivery_claims import claimed, permanent
from activities.messages import Messages, message_id
from activities.notification_ports import (
    DeliveryKey,
    DeliveryStore,
    MailSender,
    SmsSender,
    WebhookSender,
)


class DeliveryPolicy(Compact):
    """How long one attempt may take and how long the workflow keeps retrying. Its defaults
    never change (activities/compact.py): requests in flight omit them."""

    attempt_timeout: timedelta = timedelta(seconds=30)
    heartbeat_timeout: timedelta = timedelta(seconds=10)
    window: timedelta = timedelta(hours=24)
    first_retry: timedelta = timedelta(seconds=2)
    max_retry_interval: timedelta = timedelta(minutes=15)


AUDIENCES = ("customer", "operator")


class NotificationRequest(Compact):
    """One notified event: on one channel, or on every channel enabled for its audience.

    A channel's delivery key is (order_id, event, channel, occurrence). Requests recorded
    before the channel registry (activities/channels.py) always name their channel. Its
    JSON leaves out the fields at their defaults, which therefore never change
    (activities/compact.py).
    """

    order_id: str
    event: str
    channel: str | None = None
    """`email`, `sms` or `webhook`; None: every channel in `channels`."""
    channels: list[str] | None = None
    """The channels it goes out on, chosen by the step that started it
    (activities/notification_starts.py); None (requests started before that): the
    notification asks the registry itself."""
    sends_in_task: bool = False
    """True (every request started since 2026-12-05): each channel's send is a local
    activity in the notification's workflow task, so a one-channel notification's history
    is 6 events; False (started before): a regular activity, 11 events."""
    recipient: str | None = None
    """Overrides the customer's address or phone; the operator's address for `operator`."""
    policy: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    audience: str = "customer"
    """`customer`, or `operator`: an email to `recipient` only (review_required)."""
    customer_id: str | None = None
    """The customer whose contact details pick the channels; None: the order's customer."""
    occurrence: int = Field(default=1, ge=1)
    """The how-many-th time the order notifies this event: a second partial refund is 2."""

    @model_validator(mode="after")
    def _known_audience(self) -> Self:
        if self.audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {AUDIENCES}, got {self.audience!r}")
        if self.audience == "operator" and not self.recipient:
            raise ValueError("an operator's notification needs its recipient")
        return self

    def on(self, channel: str) -> NotificationRequest:
        """This notification's delivery on one channel."""
        return self.model_copy(update={"channel": channel})

    @property
    def key(self) -> DeliveryKey:
        if self.channel is None:
            raise ValueError("a delivery key needs a channel: deliver request.on(channel)")
        return DeliveryKey(
            order_id=self.order_id,
            event=self.event,
            channel=self.channel,
            occurrence=self.occurrence,
        )


class DeliveryResult(BaseModel):
    status: str
    """`sent` or `failed`; for several channels `sent` when every one was, `failed` when
    none was, else `partial`."""
    duplicate: bool = False
    """True when an earlier attempt had delivered it already (on every channel)."""
    channels: dict[str, DeliveryResult] = {}
    """Each channel's result, when the request named none."""

    @classmethod
    def of_channels(cls, results: dict[str, DeliveryResult]) -> DeliveryResult:
        sent = [result.status == "sent" for result in results.values()]
        status = "sent" if all(sent) else "partial" if any(sent) else "failed"
        duplicate = all(result.duplicate for result in results.values())
        return cls(status=status, duplicate=duplicate, channels=results)


class FailureInput(BaseModel):
    request: NotificationRequest
    error: str
    after_attempts: bool = False
    """True: `error` says only that the window closed, and the last attempt's error is the
    one its claim recorded (a send in the workflow task: the SDK reports none)."""


class NotificationActivities:
    """Each channel's sender (activities/channels.py lists them) and the failure record."""

    def __init__(
        self,
        store: DeliveryStore,
        mailer: MailSender,
        sms: SmsSender,
        webhooks: WebhookSender,
    ) -> None:
        self._store = store
        self._mailer = mailer
        self._sms = sms
        self._webhooks = webhooks
        self._messages = Messages()

    @activity.defn
    async def send_email(self, request: NotificationRequest) -> DeliveryResult:
        """Send the event's email unless this delivery key was sent already."""
        key = request.key
        async with claimed(self._store, key, message_id(key, self._mailer.sender)) as attempt:
            if attempt.done:
                return DeliveryResult(status="sent", duplicate=True)
            order = await self._store.summary(key.order_id, key.event, key.occurrence)
            to = request.recipient or order.email
            message = self._messages.email(key, order, self._mailer.sender, to)
            await self._mailer.send(message, attempt.accepted)
        return DeliveryResult(status="sent")

    @activity.defn
    async def send_sms(self, request: NotificationRequest) -> DeliveryResult:
        """Text the customer's phone through the provider (Idempotency-Key: the delivery key)."""
        key = request.key
        async with claimed(self._store, key, str(key)) as attempt:
            if attempt.done:
                return DeliveryResult(status="sent", duplicate=True)
            if not self._sms.configured:
                raise permanent("SMS_PROVIDER_URL is not set", "ChannelNotConfigured")
            order = await self._store.summary(key.order_id, key.event, key.occurrence)
            to = request.recipient or order.phone
            if not to:
                raise permanent(f"customer {order.customer_id} has no phone", "NoPhoneNumber")
            await self._sms.send(to, self._messages.sms(key, order), idempotency_key=str(key))
            await attempt.accepted()
        return DeliveryResult(status="sent")

    @activity.defn
    async def send_webhook(self, request: NotificationRequest) -> DeliveryResult:
        """POST the signed event JSON to the merchant; its `id` is the delivery key."""
        key = request.key
        async with claimed(self._store, key, str(key)) as attempt:
            if attempt.done:
                return DeliveryResult(status="sent", duplicate=True)
            if not self._webhooks.configured:
                raise permanent("MERCHANT_WEBHOOK_URL is not set", "ChannelNotConfigured")
            order = await self._store.summary(key.order_id, key.event, key.occurrence)
            await self._webhooks.post(self._messages.webhook(key, order, attempt.created_at))
            await attempt.accepted()
        return DeliveryResult(status="sent")

    @activity.defn
    async def mark_failed(self, inp: FailureInput) -> None:
        """Retries ran out: record the delivery as failed with the last error."""
        await self._store.mark_failed(inp.request.key, inp.error, after_attempts=inp.after_attempts)
