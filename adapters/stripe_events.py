"""Stripe events already delivered, by event id: Stripe delivers an event at least once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.tables import stripe_events


class StripeEventStore:
    """Records each event id once, in a transaction around what the event prompts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def recording(
        self, event_id: str, event_type: str, payment_intent_id: str
    ) -> AsyncIterator[bool]:
        """Yields whether the event is new. The record commits only if the block completes:
        when delivering the event fails, it is rolled back, so Stripe's redelivery is not
        taken for a duplicate."""
        async with self._engine.begin() as conn:
            recorded = await conn.execute(
                insert(stripe_events)
                .values(id=event_id, type=event_type, payment_intent_id=payment_intent_id)
                .on_conflict_do_nothing()
                .returning(stripe_events.c.id)
            )
            yield recorded.first() is not None
