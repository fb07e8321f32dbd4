"""The channel registry's enabled checks, the request shape and the ids a delivery shows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from activities.channels import CHANNELS, OPERATOR_CHANNELS, Reach
from activities.messages import message_id
from activities.notification_ports import Customer, DeliveryKey
from activities.notifications import NotificationActivities, NotificationRequest
from adapters.settings import Settings
from workflows.notification import event_notification_id, notification_id


@dataclass(frozen=True)
class Configured:
    sms_provider_url: str = ""


WITH_PHONE = Customer(id="cus_1", email="grace@example.com", phone="+44 20 7946 0000")
WITHOUT_PHONE = Customer(id="cus_2", email="ada@example.com")
SMS = Configured(sms_provider_url="http://sms/")


def enabled(settings: Configured, reach: Reach) -> list[str]:
    return [name for name, channel in CHANNELS.items() if channel.enabled(settings, reach)]


@pytest.mark.parametrize(
    ("settings", "reach", "expected"),
    [
        (Configured(), Reach(WITH_PHONE), ["email"]),
        (SMS, Reach(WITH_PHONE), ["email", "sms"]),
        (SMS, Reach(WITHOUT_PHONE), ["email"]),
        (Configured(), Reach(WITHOUT_PHONE, merchant_endpoint=True), ["email", "webhook"]),
        (SMS, Reach(WITH_PHONE, merchant_endpoint=True), ["email", "sms", "webhook"]),
        (SMS, Reach(WITHOUT_PHONE, merchant_endpoint=True), ["email", "webhook"]),
    ],
)
def test_email_always_sms_with_a_provider_and_a_phone_webhook_when_an_endpoint_takes_it(
    settings: Configured, reach: Reach, expected: list[str]
) -> None:
    assert enabled(settings, reach) == expected


def test_the_real_settings_are_what_the_checks_read() -> None:
    settings = Settings(sms_provider_url="http://sms/", merchant_webhook_url="http://hook/")
    reach = Reach(WITH_PHONE)
    assert [n for n, c in CHANNELS.items() if c.enabled(settings, reach)] == ["email", "sms"]


def test_each_channel_is_sent_by_its_own_activity_and_operators_get_email_only() -> None:
    assert {name: channel.send for name, channel in CHANNELS.items()} == {
        "email": NotificationActivities.send_email,
        "sms": NotificationActivities.send_sms,
        "webhook": NotificationActivities.send_webhook,
    }
    assert OPERATOR_CHANNELS == ("email",)


def test_a_request_without_a_channel_has_no_delivery_key_until_it_names_one() -> None:
    request = NotificationRequest(order_id="ord_1", event="refund_issued", occurrence=2)

    with pytest.raises(ValueError, match="needs a channel"):
        _ = request.key
    assert request.on("sms").key == DeliveryKey(
        order_id="ord_1", event="refund_issued", channel="sms", occurrence=2
    )
    assert request.on("sms").occurrence == 2 and request.channel is None


def test_an_old_request_keeps_its_meaning() -> None:
    """A request as histories from before the registry carry it."""
    old = NotificationRequest.model_validate(
        {"order_id": "ord_1", "event": "order_shipped", "channel": "sms", "recipient": None}
    )

    assert (old.audience, old.customer_id, old.occurrence) == ("customer", None, 1)
    assert str(old.key) == "ord_1/order_shipped/sms"


@pytest.mark.parametrize(
    "fields",
    [
        {"audience": "operator"},  # whom to email?
        {"audience": "merchant"},
        {"occurrence": 0},
    ],
)
def test_a_request_that_cannot_be_delivered_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NotificationRequest.model_validate({"order_id": "ord_1", "event": "x", **fields})


def test_the_first_occurrence_keeps_its_ids_and_a_later_one_gets_its_own() -> None:
    first = DeliveryKey(order_id="ord_1", event="refund_issued", channel="email")
    second = first.model_copy(update={"occurrence": 2})

    assert str(first) == "ord_1/refund_issued/email"  # SMS Idempotency-Key, webhook id
    assert str(second) == "ord_1/refund_issued/email/2"
    assert message_id(first, "Shop <shop@example.com>") == "<ord_1.refund_issued.email@example.com>"
    assert message_id(second, "shop@example.com") == "<ord_1.refund_issued.email.2@example.com>"


def test_workflow_ids_per_channel_before_the_registry_and_per_occurrence_after() -> None:
    assert (
        notification_id("ord_1", "order_shipped", "sms") == "notification-ord_1-order_shipped-sms"
    )
    assert event_notification_id("ord_1", "refund_issued", 2) == (
        "notification-ord_1-refund_issued-2"
    )
