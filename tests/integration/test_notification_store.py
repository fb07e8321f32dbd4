"""Delivery claims against PostgreSQL: one live attempt per delivery, never a resend."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.notification_store import DeliveryKey, NotificationStore, UnknownOrder
from adapters.tables import notifications
from tests.integration.test_notifications import place_order

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


async def row(engine: AsyncEngine, key: DeliveryKey) -> dict[str, object]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(notifications).where(
                notifications.c.order_id == key.order_id,
                notifications.c.event == key.event,
                notifications.c.channel == key.channel,
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


async def test_a_delivery_for_an_unknown_order_is_refused(engine: AsyncEngine) -> None:
    store = NotificationStore(engine)
    key = DeliveryKey(order_id=uuid.uuid4().hex[:12], event="order_shipped", channel="email")

    with pytest.raises(UnknownOrder):
        await store.claim(key, "a" * 32, LEASE, "dk")
