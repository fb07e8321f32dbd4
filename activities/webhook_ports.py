"""What the merchant webhook activities need from the outside world, as ports.

activities/webhooks.py depends on these only; adapters/webhook_deliveries.py (the delivery
log in PostgreSQL) and adapters/merchant_webhooks.py (`EndpointPoster`: the signed POST,
checked against private addresses at send time) implement them, and workers/notifications.py
wires the real ones in (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel

from activities.notification_ports import OrderSummary


class PlannedDelivery(BaseModel):
    """One delivery as its attempt needs it: where it goes, how it is signed, what it says."""

    id: str
    endpoint_id: str
    url: str
    secrets: list[str]
    """The endpoint's secret, then the previous one while it is still valid (a rotation)."""
    event_id: str
    event: str
    order_id: str
    occurrence: int
    event_created_at: datetime
    body: str | None
    """Frozen at the first attempt; None until then."""


class DisabledEndpoint(BaseModel):
    """An endpoint turned off for failing: what the operator's email says about it."""

    id: str
    url: str
    description: str
    failing_since: datetime | None
    disabled_at: datetime
    disabled_reason: str


class WebhookClaim(BaseModel):
    """What `claim` found.

    `claimed`: this attempt holds the delivery and has its attempt row `attempt`; `sent`: this
    series (or a later one) was sent; `busy`: another live attempt holds it; `gone`: the
    delivery was deleted with its endpoint; `superseded`: a redelivery started a later series,
    which goes on in its own workflow; `disabled`: the endpoint is off (`unannounced` is set
    when it was turned off for failing and the operator has not been told yet).
    """

    outcome: Literal["claimed", "sent", "busy", "gone", "superseded", "disabled"]
    attempt: int = 0
    delivery: PlannedDelivery | None = None
    unannounced: DisabledEndpoint | None = None


class WebhookStore(Protocol):
    """The webhook delivery log: deliveries, their claims, attempts and endpoints' health."""

    async def subscribed(self, event: str) -> bool:
        """Whether any enabled endpoint takes `event` (or every event)."""
        ...

    async def plan(self, order_id: str, event: str, occurrence: int, event_id: str) -> list[str]:
        """A delivery for each enabled endpoint taking the event, unless it has one; every
        delivery id of the event id."""
        ...

    async def claim(
        self, delivery_id: str, series: int, token: str, lease: timedelta, at: datetime
    ) -> WebhookClaim: ...

    async def freeze(self, delivery_id: str, body: str) -> str:
        """Store the body unless one is stored; the stored one."""
        ...

    async def sent(self, delivery_id: str, series: int, attempt: int, status_code: int) -> None:
        """The endpoint took it: whoever holds the claim, the series is sent."""
        ...

    async def failed(
        self,
        delivery: PlannedDelivery,
        attempt: int,
        token: str,
        *,
        status_code: int | None,
        error: str,
        at: datetime,
        next_at: datetime,
        disable_after: timedelta,
    ) -> DisabledEndpoint | None:
        """The endpoint refused or did not answer; it is failing since its first such
        attempt. Returns the endpoint if this attempt turned it off, failing for
        `disable_after` at `at`."""
        ...

    async def interrupted(
        self, delivery_id: str, attempt: int, token: str, error: str, next_at: datetime
    ) -> None:
        """The attempt ended before any answer (cancelled, or an error of ours): record why,
        free the delivery; the endpoint is not blamed."""
        ...

    async def give_up(self, delivery_id: str, series: int, error: str) -> None:
        """The series' window ran out: failed, unless it was sent or a redelivery took over."""
        ...

    async def announced(self, endpoint_id: str) -> None:
        """The operator has been told the endpoint was turned off."""
        ...


class OrderSummaries(Protocol):
    async def summary(self, order_id: str, event: str, occurrence: int) -> OrderSummary: ...


class WebhookAnswer(Protocol):
    """The endpoint's answer to one POST (or why there was none)."""

    @property
    def status_code(self) -> int | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def ok(self) -> bool: ...


class WebhookPoster(Protocol):
    """POSTs one signed body to an endpoint; never raises for the endpoint's or the network's
    failure, which comes back as the answer's `error`."""

    async def post(
        self, url: str, body: bytes, secrets: Sequence[str], event_id: str
    ) -> WebhookAnswer: ...
