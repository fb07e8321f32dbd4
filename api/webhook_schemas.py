"""The webhook endpoint routes' requests, answers and the ids their paths take.

An endpoint's secret appears in two answers only, `EndpointWithSecretOut` on creation and on
rotation; every other answer is `EndpointOut`, which has no field for it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from activities.messages import WEBHOOK_EVENTS
from api.errors import Problem
from api.schemas import Line, Strict

ENDPOINT_ID_PATTERN = r"^we_[0-9a-z_]{1,37}$"
"""What the store makes (`we_` and 20 hex digits) and the seeded `we_env`."""
DELIVERY_ID_PATTERN = r"^wd_[0-9a-f]{20}$"
_ENDPOINT_ID = re.compile(ENDPOINT_ID_PATTERN)
_DELIVERY_ID = re.compile(DELIVERY_ID_PATTERN)

EVERY_EVENT = "*"
MAX_URL_LENGTH = 2048

DeliveryStatus = Literal["pending", "sent", "failed"]

Url = Annotated[Line, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH)]
"""Any storable one-line text here; whether it is a URL we may call is the route's check."""
Description = Annotated[Line, StringConstraints(strip_whitespace=True, max_length=500)]
EventName = Annotated[Line, StringConstraints(min_length=1, max_length=64)]


def _distinct(events: list[str]) -> list[str]:
    if len(set(events)) != len(events):
        raise ValueError("each event may be named once")
    if EVERY_EVENT in events and len(events) > 1:
        raise ValueError('"*" stands alone: it already means every event')
    return events


Events = Annotated[
    list[EventName], Field(min_length=1, max_length=len(WEBHOOK_EVENTS)), AfterValidator(_distinct)
]
"""Event names (`activities/messages.py` WEBHOOK_EVENTS), or `["*"]` for all of them, now and
later."""


def known_events(events: list[str]) -> list[str]:
    """The events, if each is one an endpoint can take; else a 422 `unknown-event`."""
    unknown = [name for name in events if name != EVERY_EVENT and name not in WEBHOOK_EVENTS]
    if unknown:
        raise Problem(
            422,
            "unknown-event",
            f"no such event: {', '.join(unknown)}; the events are {', '.join(WEBHOOK_EVENTS)}",
            events=unknown,
        )
    return events


def _known_shape(value: str, shape: re.Pattern[str], what: str) -> str:
    """An id that cannot be one is the 404 of an unknown one, and never reaches the
    database (NUL, control characters, anything over-long)."""
    if not shape.fullmatch(value):
        raise Problem(404, "not-found", f"no such {what}")
    return value


async def _endpoint_id(
    endpoint_id: Annotated[
        str,
        Path(json_schema_extra={"pattern": ENDPOINT_ID_PATTERN}, examples=["we_0f9c2a7b4e5d6c1a"]),
    ],
) -> str:
    return _known_shape(endpoint_id, _ENDPOINT_ID, "webhook endpoint")


async def _delivery_id(
    delivery_id: Annotated[
        str,
        Path(json_schema_extra={"pattern": DELIVERY_ID_PATTERN}, examples=["wd_4e5d6c1a2b3c0f9c"]),
    ],
) -> str:
    return _known_shape(delivery_id, _DELIVERY_ID, "delivery")


EndpointId = Annotated[str, Depends(_endpoint_id)]
DeliveryId = Annotated[str, Depends(_delivery_id)]

_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "url": "https://shop.example/hooks/orders",
    "events": ["order_confirmed", "order_shipped"],
    "description": "fulfilment system",
}


class EndpointIn(Strict):
    """A new endpoint: where to POST and which events."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT_EXAMPLE]})

    url: Url = Field(description="https only; the host must resolve to public addresses")
    events: Events
    description: Description = ""


class EndpointPatchIn(Strict):
    """The fields to change; omitted (or null) fields stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"events": ["*"]}, {"enabled": True}]}
    )

    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    enabled: StrictBool | None = Field(
        default=None,
        description="true re-enables a disabled endpoint (its failures so far are forgotten)",
    )


_ENDPOINT_OUT_EXAMPLE: dict[str, Any] = {
    "id": "we_0f9c2a7b4e5d6c1a2b3c",
    **_ENDPOINT_EXAMPLE,
    "enabled": True,
    "disabled_reason": None,
    "created_at": "2025-01-02T10:00:00Z",
    "updated_at": "2025-01-02T10:00:00Z",
    "secret_rotated_until": None,
}


class EndpointOut(BaseModel):
    """An endpoint as operators see it (never its secret)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT_OUT_EXAMPLE]})

    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None = Field(
        description="why it was disabled (by an operator, or after failing for 3 days)"
    )
    created_at: datetime
    updated_at: datetime
    secret_rotated_until: datetime | None = Field(
        default=None, description="until when the secret before the last rotation still signs"
    )


class EndpointWithSecretOut(EndpointOut):
    """An endpoint just created or whose secret was just rotated: the only answers that
    show the secret. Store it now; it cannot be read again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_ENDPOINT_OUT_EXAMPLE, "secret": "whsec_3Jq9vV0cXk2mZ8..."}]
        }
    )

    secret: str = Field(description="the key of the `X-Signature` HMAC-SHA256")


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None = Field(description="the receiver's HTTP status, if it answered")
    error: str | None = Field(
        description="why it failed; `no answer recorded yet` while it runs, or if it died"
    )


class DeliveryOut(BaseModel):
    """One event occurrence for one endpoint, and every attempt to deliver it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "wd_4e5d6c1a2b3c0f9c2a7b",
                    "event_id": "evt_ord_0f9c2a7b4e5d6c1a2b3c_order_shipped_1",
                    "event": "order_shipped",
                    "order_id": "ord_0f9c2a7b4e5d6c1a2b3c",
                    "status": "sent",
                    "attempts": [
                        {"at": "2025-01-02T10:00:01Z", "status_code": 500, "error": "HTTP 500"},
                        {"at": "2025-01-02T10:00:03Z", "status_code": 200, "error": None},
                    ],
                    "next_attempt_at": None,
                    "sent_at": "2025-01-02T10:00:03Z",
                }
            ]
        }
    )

    id: str
    event_id: str = Field(description="the body's `id` and `X-Event-Id`, the same on redelivery")
    event: str
    order_id: str
    status: DeliveryStatus
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    sent_at: datetime | None


RUNNING_ATTEMPT = "no answer recorded yet"
"""An attempt still holding the delivery, or one that died holding it (its claim ran out)."""


def endpoint_out(row: dict[str, Any]) -> EndpointOut:
    """The endpoint without its secrets (the model has no field for them)."""
    until = row["previous_secret_until"]
    rotating = until is not None and until > datetime.now(UTC)
    return EndpointOut.model_validate({**row, "secret_rotated_until": until if rotating else None})


def with_secret(row: dict[str, Any]) -> EndpointWithSecretOut:
    return EndpointWithSecretOut(**endpoint_out(row).model_dump(), secret=row["secret"])


def delivery_out(row: dict[str, Any]) -> DeliveryOut:
    attempts = [
        {
            **attempt,
            "error": RUNNING_ATTEMPT if attempt["outcome"] == "running" else attempt["error"],
        }
        for attempt in row["attempts"]
    ]
    return DeliveryOut.model_validate({**row, "attempts": attempts})
