"""What each event's email and SMS say, rendered from the templates without any I/O: every
event renders, and an event that happens more than once names its own shipment or return."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from activities.messages import EVENTS, Messages
from activities.notification_ports import DeliveryKey, OrderSummary
from activities.records import LineRecord, ReturnRecord, ShipmentRecord, UnitsRecord
from domain.events import OrderShipped, OrderUpdated, ReturnRequested
from tests.unit.test_mime import received

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
MESSAGES = Messages()


def units(**quantities: int) -> list[UnitsRecord]:
    return [UnitsRecord(sku=sku.replace("_", "-"), quantity=q) for sku, q in quantities.items()]


def summary(**changes: Any) -> OrderSummary:
    """Grace's order: two T-shirts and a mug, 62.00 EUR, nothing shipped yet."""
    order = {
        "id": "ord_1",
        "customer_id": "cus_1",
        "status": "confirmed",
        "currency": "EUR",
        "total": 6200,
        "lines": [
            LineRecord(sku="TSHIRT", name="T-shirt, blue", quantity=2, unit_price=2500, total=5000),
            LineRecord(sku="MUG", name="Mug", quantity=1, unit_price=1200, total=1200),
        ],
        "shipping_address": {"name": "Grace Hopper"},
        "payment_status": "authorized",
        "authorized": 6200,
        "version": 1,
        "created_at": T0,
        "updated_at": T0,
        "customer_name": "Grace Hopper",
        "email": "grace@example.com",
    }
    return OrderSummary.model_validate({**order, **changes})


def shipment(number: int, **quantities: int) -> ShipmentRecord:
    return ShipmentRecord(
        id=f"S-{number}",
        carrier="DHL" if number == 1 else "UPS",
        tracking_number=f"TRACK{number}",
        lines=units(**quantities),
        shipped_at=T0 + timedelta(days=number),
    )


def a_return(number: int, status: str = "requested", **changes: Any) -> ReturnRecord:
    return ReturnRecord.model_validate(
        {
            "id": f"R-{number}",
            "status": status,
            "lines": units(TSHIRT=1) if number == 1 else units(MUG=1),
            "reason": "too small" if number == 1 else "chipped",
            "requested_at": T0 + timedelta(days=10 + number),
            **changes,
        }
    )


def email(event: str, order: OrderSummary, occurrence: int = 1) -> tuple[str, str, str]:
    key = DeliveryKey(order_id=order.id, event=event, channel="email", occurrence=occurrence)
    message = received(MESSAGES.email(key, order, "shop@example.com", order.email))
    return str(message["Subject"]), *bodies(message)


def bodies(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def sms(event: str, order: OrderSummary, occurrence: int = 1) -> str:
    key = DeliveryKey(order_id=order.id, event=event, channel="sms", occurrence=occurrence)
    return MESSAGES.sms(key, order)


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_renders_on_every_channel_even_with_no_event_data(event: str) -> None:
    order = summary()
    subject, plain, html = email(event, order)
    key = DeliveryKey(order_id="ord_1", event=event, channel="webhook")

    assert "ord_1" in subject and "Total: 62.00 EUR" in plain and "62.00 EUR" in html
    assert "ord_1" in sms(event, order)
    assert json.loads(MESSAGES.webhook(key, order, T0))["type"] == event


def test_each_shipment_has_its_own_message_naming_its_units_and_tracking() -> None:
    shipped = summary(
        status="shipped",
        shipments=[shipment(1, TSHIRT=2), shipment(2, MUG=1)],
        shipment={"carrier": "UPS", "tracking_number": "TRACK2"},
    )

    first_subject, first, first_html = email("order_shipped", shipped, occurrence=1)
    second_subject, second, _ = email("order_shipped", shipped, occurrence=2)

    assert first_subject == "Part of order ord_1 has shipped"
    assert "Part of your order is on its way with DHL." in first
    assert "This parcel holds 2 \u00d7 T-shirt, blue." in first
    assert "We will tell you when the rest ships." in first
    assert "Order ord_1 — partially shipped" in first
    assert "tracking number TRACK1" in first and "<b>TRACK1</b>" in first_html
    assert second_subject == "Order ord_1 has shipped"
    assert "Your order is on its way with UPS. This parcel holds 1 \u00d7 Mug." in second
    assert "Order ord_1 — shipped" in second and "tracking number TRACK2" in second
    assert sms("order_shipped", shipped, 1) == (
        "Part of order ord_1 has shipped with DHL, tracking TRACK1."
    )


def test_a_shipment_named_by_the_event_wins_and_an_order_without_shipments_reads_as_before() -> (
    None
):
    shipped = summary(
        shipments=[shipment(1, TSHIRT=1), shipment(2, TSHIRT=1, MUG=1)],
        event_data={"shipment_id": "S-2"},
    )
    older = summary(
        status="delivered",
        shipment={"carrier": "DHL", "tracking_number": "JD1"},
        event_data={"carrier": "DHL", "tracking_number": "JD1"},
    )

    assert "tracking number TRACK2" in email("order_shipped", shipped)[1]
    subject, plain, _ = email("order_shipped", older)
    assert subject == "Order ord_1 has shipped"
    assert "Your order is on its way with DHL." in plain and "parcel" not in plain
    assert "Order ord_1 — shipped" in plain
    assert sms("order_shipped", older) == "Order ord_1 has shipped with DHL, tracking JD1."


def test_return_requested_names_the_return_of_its_occurrence() -> None:
    order = summary(status="delivered", returns=[a_return(1), a_return(2)])

    first_subject, first, _ = email("return_requested", order, occurrence=1)
    second_subject, second, _ = email("return_requested", order, occurrence=2)

    assert first_subject == "Return R-1 for order ord_1 is registered"
    assert "We registered your return R-1 of 1 \u00d7 T-shirt, blue (too small)." in first
    assert second_subject == "Return R-2 for order ord_1 is registered"
    assert "return R-2 of 1 \u00d7 Mug (chipped)" in second
    assert "Refunded" not in first
    assert sms("return_requested", order, 2) == (
        "Order ord_1: return R-2 registered (1 \u00d7 Mug). Please send the items back."
    )


def test_a_received_return_says_what_it_refunded_and_counts_received_returns_only() -> None:
    later = T0 + timedelta(days=20)
    order = summary(
        status="delivered",
        refunded=3700,
        returns=[
            a_return(1, "received", refund=2500, resolved_at=later + timedelta(hours=1)),
            a_return(2, "received", refund=1200, resolved_at=later),
            a_return(3, "rejected", resolved_at=later, resolution="worn"),
        ],
    )

    subject, first, html = email("return_received", order, occurrence=1)
    _, second, _ = email("return_received", order, occurrence=2)

    assert subject == "We received your return R-2 for order ord_1"  # received first
    assert "We received your return R-2 of 1 \u00d7 Mug and refunded 12.00 EUR" in first
    assert "Refunded: 12.00 EUR (37.00 EUR in total)" in first
    assert "Refunded: <b>12.00 EUR</b>" in html
    assert "return R-1 of 1 \u00d7 T-shirt, blue and refunded 25.00 EUR" in second
    assert sms("return_received", order, 1) == (
        "Order ord_1: we received return R-2 and refunded 12.00 EUR to your card."
    )


def test_a_rejected_return_says_why_and_the_events_return_id_wins() -> None:
    order = summary(
        status="delivered",
        returns=[
            a_return(1, "rejected", resolved_at=T0 + timedelta(days=20), resolution="worn"),
            a_return(2, "rejected", resolved_at=T0 + timedelta(days=21), resolution="too late"),
        ],
        event_data={"return_id": "R-2"},
    )

    subject, plain, _ = email("return_rejected", order, occurrence=1)

    assert subject == "Return R-2 for order ord_1 was not accepted"
    assert "We could not accept your return R-2 of 1 \u00d7 Mug: too late." in plain
    assert "Refunded" not in plain
    assert sms("return_rejected", order) == "Order ord_1: return R-2 was not accepted (too late)."


def test_an_edit_shows_the_lines_the_order_holds_now() -> None:
    edited = summary(
        total=2500,
        lines=[
            LineRecord(sku="TSHIRT", name="T-shirt, blue", quantity=1, unit_price=2500, total=2500),
            LineRecord(sku="MUG", name="Mug", quantity=0, unit_price=1200, total=0),
        ],
        event_data={"reason": "customer asked"},
    )

    subject, plain, html = email("order_updated", edited)

    assert subject == "Order ord_1 was changed"
    assert "Your order was changed (customer asked): it now holds the lines below" in plain
    assert "25.00 EUR in total" in plain and "charged only this total" in plain
    assert "1 \u00d7 T-shirt, blue (TSHIRT)  25.00 EUR" in plain
    assert "Mug" not in plain and "Mug" not in html
    assert sms("order_updated", edited) == "Order ord_1 was changed: it now comes to 25.00 EUR."


def test_the_merchant_webhook_carries_the_orders_shipments_and_returns() -> None:
    order = summary(
        status="delivered",
        shipments=[shipment(1, TSHIRT=2, MUG=1)],
        returns=[a_return(1, restock=False)],
    )
    key = DeliveryKey(order_id="ord_1", event="return_requested", channel="webhook")

    body = json.loads(MESSAGES.webhook(key, order, T0))["data"]["order"]

    assert [s["id"] for s in body["shipments"]] == ["S-1"]
    assert body["shipments"][0]["lines"] == [
        {"sku": "TSHIRT", "quantity": 2},
        {"sku": "MUG", "quantity": 1},
    ]
    [returned] = body["returns"]
    assert returned["id"] == "R-1" and returned["status"] == "requested"
    assert set(returned) == {
        "id", "status", "lines", "reason", "refund", "requested_at", "resolved_at"
    }  # fmt: skip


def test_the_events_data_as_the_order_records_it_reaches_the_templates() -> None:
    lines = [{"sku": "MUG", "quantity": 1}]
    recorded = {
        "order_shipped": OrderShipped("DHL", "TRACK1", "S-1", lines).data(),
        "order_updated": OrderUpdated(lines, 5000, "customer asked").data(),
        "return_requested": ReturnRequested("R-1", lines, "chipped").data(),
    }

    for event, data in recorded.items():
        order = summary(event_data=data)
        assert "ord_1" in email(event, order)[0] and "ord_1" in sms(event, order)
