"""Merchant webhook deliveries (queue `notifications`): plan an event's deliveries, deliver one
attempt series of one, give up on it (docs/webhooks.md).

A delivery is one (endpoint, event occurrence) row of the delivery log, and is sent once per
attempt series as a notification is once per delivery key (activities/delivery_claims.py):
an attempt claims the row with a lease, the row becomes sent the moment the endpoint answers
2xx (shielded, retried through a short database outage), and what is left is the window where
the endpoint took the body but its answer was lost: the retry sends it again, with the same
`X-Event-Id`, so an endpoint that deduplicates sees it once. Every attempt is a row of
`webhook_attempts`, written as it claims and completed with the endpoint's answer.

An endpoint that refused or did not answer every attempt for `DISABLE_AFTER` is turned off by
the attempt that finds it so, which emails the operator; its other deliveries end failed at
their next attempt. Should that email not go out (the mail server down, the worker killed),
the next attempt of any of them after the disabling attempt's lease sends it, with the same
Message-ID: at least once, as the customers' messages.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery_claims import LEASE_MARGIN, describe, heartbeat, patiently, permanent
from activities.messages import Messages
from activities.notification_ports import MailSender, UnknownOrder
from activities.webhook_ports import (
    DisabledEndpoint,
    OrderSummaries,
    PlannedDelivery,
    WebhookAnswer,
    WebhookClaim,
    WebhookPoster,
    WebhookStore,
)
from workflows.webhook_contracts import WebhookDelivery, event_id

DISABLE_AFTER = timedelta(days=3)
"""An endpoint failing every attempt this long is turned off."""


class WebhookEvent(BaseModel):
    """One event occurrence of an order, to be delivered to every endpoint taking it."""

    order_id: str
    event: str
    occurrence: int = Field(default=1, ge=1)


class WebhookResult(BaseModel):
    status: Literal["sent", "failed", "gone", "superseded"]
    """`gone`: the endpoint was deleted; `superseded`: a redelivery took over the delivery."""
    duplicate: bool = False
    """Sent by an earlier attempt already."""
    error: str | None = None


class WebhookFailure(BaseModel):
    delivery: WebhookDelivery
    error: str


def retry_interval(delivery: WebhookDelivery, attempt: int) -> timedelta:
    """How long Temporal waits after failed attempt `attempt` (the workflow's retry policy:
    doubling from the first retry, capped)."""
    policy = delivery.policy
    interval: timedelta = policy.first_retry * 2 ** (attempt - 1)
    return min(interval, policy.max_retry_interval)


def _permanent_if_unknown(error: BaseException) -> BaseException:
    if isinstance(error, UnknownOrder):
        return permanent(f"order {error} not found", "OrderNotFound")
    return error


def disabled_email(endpoint: DisabledEndpoint, sender: str, to: str) -> EmailMessage:
    """The operator's notice; its Message-ID is the same for every copy of one disabling."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "localhost"
    stamp = int(endpoint.disabled_at.timestamp())
    since = endpoint.failing_since or endpoint.disabled_at
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Webhook endpoint {endpoint.id} was disabled"
    message["Message-ID"] = f"<webhook-endpoint-disabled.{endpoint.id}.{stamp}@{domain}>"
    described = f" ({endpoint.description})" if endpoint.description else ""
    message.set_content(
        f"The webhook endpoint {endpoint.id}{described} at {endpoint.url}\n"
        f"has failed every delivery since {since:%Y-%m-%d %H:%M} UTC and was disabled at "
        f"{endpoint.disabled_at:%Y-%m-%d %H:%M} UTC: {endpoint.disabled_reason}.\n\n"
        "Nothing more is sent to it; its pending deliveries end failed.\n"
        "Once the receiver works again, enable the endpoint (PATCH\n"
        f"/v1/webhook-endpoints/{endpoint.id} with enabled: true) and redeliver the failed\n"
        "deliveries from its delivery log.\n"
    )
    return message


class WebhookActivities:
    """Plans, delivers and gives up on merchant webhook deliveries."""

    def __init__(
        self,
        store: WebhookStore,
        orders: OrderSummaries,
        poster: WebhookPoster,
        mailer: MailSender,
        operator_email: str,
    ) -> None:
        self._store = store
        self._orders = orders
        self._poster = poster
        self._mailer = mailer
        self._operator = operator_email
        self._messages = Messages()

    @activity.defn(name="plan_webhooks")
    async def plan(self, event: WebhookEvent) -> list[str]:
        """A delivery per endpoint taking the event; every delivery of its event id, also
        those an earlier attempt planned before its answer was lost."""
        try:
            return await self._store.plan(
                event.order_id,
                event.event,
                event.occurrence,
                event_id(event.order_id, event.event, event.occurrence),
            )
        except UnknownOrder:
            raise permanent(f"order {event.order_id} not found", "OrderNotFound") from None

    @activity.defn(name="deliver_webhook")
    async def deliver(self, delivery: WebhookDelivery) -> WebhookResult:
        """One attempt of the delivery's series: POST its frozen body, signed, and record
        the answer. A refusal raises (retryable) so Temporal backs off."""
        info = activity.info()
        at = info.current_attempt_scheduled_time  # the server's clock, skipped in tests
        lease = (info.start_to_close_timeout or timedelta(minutes=1)) + LEASE_MARGIN
        token = uuid.uuid4().hex
        claim = await self._store.claim(delivery.delivery_id, delivery.series, token, lease, at)
        if claim.delivery is None:
            return await self._not_claimed(claim, at, lease)
        planned, attempt = claim.delivery, claim.attempt
        beat = info.heartbeat_timeout
        beating = asyncio.create_task(heartbeat(beat.total_seconds() / 3)) if beat else None
        try:
            try:
                answer = await self._post(planned)
            except BaseException as failure:  # no answer: free the delivery for the retry
                converted = _permanent_if_unknown(failure)
                why, next_at = describe(converted), at + retry_interval(delivery, info.attempt)
                await asyncio.shield(
                    self._store.interrupted(planned.id, attempt, token, why, next_at)
                )
                if converted is not failure:
                    raise converted from failure
                raise
            if answer.ok:
                code = answer.status_code or 200
                recorded = patiently(
                    lambda: self._store.sent(planned.id, delivery.series, attempt, code)
                )
                await asyncio.shield(asyncio.ensure_future(recorded))
                return WebhookResult(status="sent")
            error = answer.error or f"HTTP {answer.status_code}"
            disabled = await self._store.failed(
                planned,
                attempt,
                token,
                status_code=answer.status_code,
                error=error,
                at=at,
                next_at=at + retry_interval(delivery, info.attempt),
                disable_after=DISABLE_AFTER,
            )
            if disabled is not None:
                await self._announce(disabled)
                reason = f"the endpoint was disabled: {disabled.disabled_reason}"
                raise permanent(reason, "EndpointDisabled")
            raise ApplicationError(error, type="EndpointRefused")
        finally:
            if beating is not None:
                beating.cancel()

    async def _not_claimed(
        self, claim: WebhookClaim, at: datetime, lease: timedelta
    ) -> WebhookResult:
        """Nothing to send by this attempt: done, gone, superseded, held, or disabled."""
        if claim.outcome in ("gone", "superseded"):
            return WebhookResult(status=claim.outcome)
        if claim.outcome == "sent":
            return WebhookResult(status="sent", duplicate=True)
        if claim.outcome == "busy":
            raise ApplicationError(
                "another attempt holds this delivery; retrying after its lease",
                type="DeliveryInProgress",
            )
        if (told := claim.unannounced) is not None:
            if at - told.disabled_at < lease:  # the attempt that disabled it may be telling
                raise ApplicationError(
                    "the endpoint was just disabled; the operator is being told",
                    type="EndpointDisabling",
                )
            await self._announce(told)
        raise permanent("the endpoint is disabled", "EndpointDisabled")

    async def _post(self, planned: PlannedDelivery) -> WebhookAnswer:
        """The endpoint's answer to the delivery's body, frozen at the first attempt."""
        body = planned.body or await self._freeze(planned)
        return await self._poster.post(
            planned.url, body.encode(), planned.secrets, planned.event_id
        )

    @activity.defn(name="give_up_webhook")
    async def give_up(self, failure: WebhookFailure) -> None:
        """The series' window ran out (or the endpoint was disabled): record it failed."""
        delivery = failure.delivery
        await self._store.give_up(delivery.delivery_id, delivery.series, failure.error)

    async def _freeze(self, planned: PlannedDelivery) -> str:
        """The body, built from the order as the read model holds it at the first attempt."""
        order = await self._orders.summary(planned.order_id, planned.event, planned.occurrence)
        body = self._messages.webhook_event(
            planned.event_id, planned.event, order, planned.event_created_at
        )
        return await self._store.freeze(planned.id, body)

    async def _announce(self, endpoint: DisabledEndpoint) -> None:
        """Email the operator, and record it once the mail server took the message; a retry
        after a lost answer sends the same Message-ID again."""
        message = disabled_email(endpoint, self._mailer.sender, self._operator)
        await self._mailer.send(message, lambda: self._store.announced(endpoint.id))
