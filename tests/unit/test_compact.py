"""activities/compact.py: a compact payload reads back as the request it was, a full one
(written before) reads as before, and the defaults that payloads leave out stay pinned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.compact import Compact
from activities.notifications import DeliveryPolicy, NotificationRequest
from bench.baseline_contracts import Step

CONVERTER = pydantic_data_converter.payload_converter

PINNED: dict[type[Compact], dict[str, Any]] = {
    DeliveryPolicy: {
        "attempt_timeout": timedelta(seconds=30),
        "heartbeat_timeout": timedelta(seconds=10),
        "window": timedelta(hours=24),
        "first_retry": timedelta(seconds=2),
        "max_retry_interval": timedelta(minutes=15),
    },
    NotificationRequest: {
        "channel": None,
        "channels": None,
        "sends_in_task": False,
        "recipient": None,
        "policy": DeliveryPolicy(),
        "audience": "customer",
        "customer_id": None,
        "occurrence": 1,
    },
    Step: {"what": "", "notify": None, "queue": ""},
}
"""Every default a compact payload may leave out. Payloads in flight do: changing one changes
what they say. Add a field for a new behaviour instead."""


def test_the_defaults_compact_payloads_leave_out_never_change() -> None:
    for model, pinned in PINNED.items():
        defaults = {
            name: field.get_default(call_default_factory=True)
            for name, field in model.model_fields.items()
            if not field.is_required()
        }
        assert defaults == pinned, f"{model.__name__}: a default changed, or a field was added"


durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
policies = st.builds(
    DeliveryPolicy,
    attempt_timeout=durations,
    heartbeat_timeout=durations,
    window=durations,
    first_retry=durations,
    max_retry_interval=durations,
) | st.just(DeliveryPolicy())
words = st.text(min_size=1, max_size=30)
maybe = st.none() | words


@st.composite
def requests(draw: st.DrawFn) -> NotificationRequest:
    operator = draw(st.booleans())
    return NotificationRequest(
        order_id=draw(words),
        event=draw(words),
        channel=draw(st.none() | st.sampled_from(["email", "sms", "webhook"])),
        channels=draw(st.none() | st.lists(st.sampled_from(["email", "sms", "webhook"]))),
        sends_in_task=draw(st.booleans()),
        recipient=draw(words) if operator else draw(maybe),
        policy=draw(policies),
        audience="operator" if operator else "customer",
        customer_id=draw(maybe),
        occurrence=draw(st.integers(min_value=1, max_value=1000)),
    )


def through_temporal(value: Compact) -> Any:
    payload = CONVERTER.to_payloads([value])[0]
    return CONVERTER.from_payloads([payload], [type(value)])[0]


@settings(max_examples=300, deadline=None)
@given(request=requests())
def test_a_request_reads_back_as_it_was_sent(request: NotificationRequest) -> None:
    assert through_temporal(request) == request


@settings(max_examples=100, deadline=None)
@given(request=requests())
def test_a_full_payload_written_before_reads_as_it_did(request: NotificationRequest) -> None:
    full = to_json(request.model_dump())  # every field: the JSON before compact payloads
    assert b'"policy":' in full and b'"audience":' in full
    payload = Payload(metadata={"encoding": b"json/plain"}, data=full)

    assert CONVERTER.from_payloads([payload], [NotificationRequest])[0] == request


def test_a_default_request_names_only_what_differs() -> None:
    request = NotificationRequest(
        order_id="ord_1", event="order_confirmed", channels=["email"], sends_in_task=True
    )
    payload = CONVERTER.to_payloads([request])[0]

    assert payload.data == (
        b'{"order_id":"ord_1","event":"order_confirmed","channels":["email"],"sends_in_task":true}'
    )
    assert request.model_dump()["policy"] == DeliveryPolicy().model_dump()  # Python: whole
