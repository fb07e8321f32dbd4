"""Delivery claims against PostgreSQL: one live attempt per delivery, never a resend."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.notification_ports import Customer, DeliveryKey, UnknownOrder
from adapters.notification_store import NotificationStore
from adapters.tables import notifications
from tests.integration.test_notifications import add_event, place_order

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


async def row(engine: AsyncEngine, key: DeliveryKey) -> dict[str, object]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(notifications).where(
                notifications.c.order_id == key.order_id,
                notifications.c.event == key.event,
                notifications.c.channel == key.channel,
                notifications.c.occurrence == key.occurrence,
            )
        )
        return dict(found.mappings().one())


async def test_a_held_delivery_is_busy_until_released_and_sent_ones_stay_sent(
    engine: AsyncEngine,
) -> None:
    store = NotificationStore(engine)
    key = DeliveryKey(order_id=await place_order(engine), event="order_shipped", channel="email")

    first = await store.claim(key, "a" * 32, LEASE, "dk-1")
    second = await store.claim(key, "b" * 32, LEASE, "dk-1")
    await store.release(key, "b" * 32, "not the holder: changes nothing")
    still = await store.claim(key, "c" * 32, LEASE, "dk-1")
    await store.release(key, "a" * 32, "SMTPServerDisconnected: gone")
    retry = await store.claim(key, "d" * 32, LEASE, "dk-1")
    await store.mark_sent(key)
    after = await store.claim(key, "e" * 32, LEASE, "dk-1")
    await store.mark_failed(key, "late")

    assert (first.outcome, second.outcome, still.outcome) == ("claimed", "busy", "busy")
    assert (retry.outcome, after.outcome) == ("claimed", "sent")
    assert first.created_at == second.created_at == retry.created_at == after.created_at
    stored = await row(engine, key)
    assert stored["status"] == "sent"
    assert stored["attempts"] == 2
    assert stored["last_error"] == "SMTPServerDisconnected: gone"
    assert stored["claim_token"] is None and stored["delivery_key"] == "dk-1"


async def test_a_claim_past_its_lease_is_taken_over(engine: AsyncEngine) -> None:
    store = NotificationStore(engine)
    key = DeliveryKey(order_id=await place_order(engine), event="order_shipped", channel="sms")

    await store.claim(key, "a" * 32, timedelta(seconds=-1), "dk")  # a dead attempt's lease
    taken = await store.claim(key, "b" * 32, LEASE, "dk")

    assert taken.outcome == "claimed"
    stored = await row(engine, key)
    assert (stored["claim_token"], stored["attempts"]) == ("b" * 32, 2)


async def test_a_failed_delivery_can_be_claimed_again(engine: AsyncEngine) -> None:
    store = NotificationStore(engine)
    key = DeliveryKey(order_id=await place_order(engine), event="order_shipped", channel="email")

    await store.claim(key, "a" * 32, LEASE, "dk")
    await store.mark_failed(key, "retries ran out")
    again = await store.claim(key, "b" * 32, LEASE, "dk")

    assert again.outcome == "claimed"
    assert (await row(engine, key))["status"] == "pending"


async def test_a_window_closed_on_sends_in_task_keeps_the_last_attempts_error(
    engine: AsyncEngine,
) -> None:
    """The SDK reports no attempt's error when a local activity's window closes: the row's
    own, recorded by the last attempt's release, follows why the workflow gave up."""
    store = NotificationStore(engine)
    order_id = await place_order(engine)
    released = DeliveryKey(order_id=order_id, event="order_shipped", channel="email")
    never = DeliveryKey(order_id=order_id, event="order_shipped", channel="sms")

    await store.claim(released, "a" * 32, LEASE, "dk")
    await store.release(released, "a" * 32, "ConnectionRefusedError: smtp down")
    await store.mark_failed(released, "gave up after the delivery window", after_attempts=True)
    await store.claim(never, "b" * 32, LEASE, "dk")
    await store.mark_failed(never, "gave up after the delivery window", after_attempts=True)

    assert (await row(engine, released))["last_error"] == (
        "gave up after the delivery window; last error: ConnectionRefusedError: smtp down"
    )
    assert (await row(engine, never))["last_error"] == (
        "gave up after the delivery window; last error: none recorded"
    )
    assert (await row(engine, never))["status"] == "failed"


async def test_a_delivery_for_an_unknown_order_is_refused(engine: AsyncEngine) -> None:
    store = NotificationStore(engine)
    key = DeliveryKey(order_id=uuid.uuid4().hex[:12], event="order_shipped", channel="email")

    with pytest.raises(UnknownOrder):
        await store.claim(key, "a" * 32, LEASE, "dk")


async def test_a_later_occurrence_is_a_delivery_of_its_own(engine: AsyncEngine) -> None:
    store = NotificationStore(engine)
    first = DeliveryKey(order_id=await place_order(engine), event="refund_issued", channel="sms")
    second = first.model_copy(update={"occurrence": 2})

    await store.claim(first, "a" * 32, LEASE, str(first))
    await store.mark_sent(first)
    claimed = await store.claim(second, "b" * 32, LEASE, str(second))

    assert claimed.outcome == "claimed"
    assert (await row(engine, first))["status"] == "sent"
    assert (await row(engine, second))["delivery_key"] == f"{first.order_id}/refund_issued/sms/2"


async def test_a_message_shows_its_occurrences_data_and_reaches_the_orders_customer(
    engine: AsyncEngine,
) -> None:
    store = NotificationStore(engine)
    order_id = await place_order(engine)
    await add_event(engine, order_id, "refund_issued", {"amount": 800})

    first = await store.summary(order_id, "refund_issued", 1)
    second = await store.summary(order_id, "refund_issued", 2)
    beyond = await store.summary(order_id, "refund_issued", 3)
    customer = await store.customer(order_id, None)

    assert (first.event_data["amount"], second.event_data["amount"]) == (1200, 800)
    assert beyond.event_data["amount"] == 800  # the latest, when the timeline has fewer
    assert customer == Customer(
        id=f"cus_{order_id}", email=f"grace-{order_id}@example.com", phone="+44 20 7946 0000"
    )
    assert await store.customer("ord_unknown", customer.id) == customer
    with pytest.raises(UnknownOrder):
        await store.customer("ord_unknown", None)
