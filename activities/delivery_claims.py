"""One delivery attempt's claim on its delivery key, held while the receiver is talked to.

Once per (order, event, channel, occurrence), and the one window where it cannot be
-------------------------------------------------------------------------------------
Temporal runs one NotificationWorkflow per notified event (or, for requests recorded before
the channel registry, per channel) and retries each channel's send activity, so the
remaining danger is an attempt that times out *after* the receiver took the message.

1. **A claim with a lease.** An attempt first claims the `notifications` row in one locking
   transaction. A `sent` row is never sent again; a row another attempt holds, whose lease
   has not run out, is left alone (this attempt fails retryably; Temporal tries later). The
   lease is the attempt's start-to-close timeout plus a margin, and the SDK cancels an
   attempt locally at that timeout, so two attempts never talk to a receiver at once, even
   when a worker that lost Temporal keeps running or two workers share the queue.
2. **The acceptance point, recorded first.** The row becomes `sent` the moment the receiver
   accepts (SMTP: the 250 after DATA; HTTP: a 2xx), before QUIT and before the activity
   reports back, shielded from the attempt's cancellation. An attempt that times out after
   that point (a hanging QUIT, a stalled worker, a lost completion) leaves a `sent` row, and
   its retry returns without sending.
3. **A stable delivery key the receiver sees.** Left over is the window inside acceptance:
   the server stored the message but its reply never reached us (RFC 1047), or the process
   died between the reply and the database write. The sender cannot tell that from a message
   that was not taken, and it resends: a rare duplicate beats a lost shipping email (marking
   an interrupted attempt "possibly sent" and never resending would lose mail on every
   connection dropped during DATA). The resend carries the same Message-ID, webhook `id` or
   SMS `Idempotency-Key`, so receivers that deduplicate show it once.

A regular activity's attempt heartbeats, so Temporal notices a dead worker early and the
workflow can cancel a send. A send run as a local activity (notifications started since
2026-12-05) does not: its workflow task times out with the dead worker, and the task's retry
runs the send again. Either way the retry after a dead worker waits for that attempt's lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messages import EVENTS
from activities.mime import UnsafeHeader
from activities.notification_ports import (
    DeliveryKey,
    DeliveryStore,
    EmailRejected,
    SmsRejected,
    UnknownOrder,
)

LEASE_MARGIN = timedelta(seconds=5)
"""Beyond the start-to-close timeout: room for the cancelled attempt to unwind."""


def describe(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError):
        return "attempt cancelled (timed out) before the receiver accepted"
    if isinstance(error, ApplicationError):
        return f"{error.type or 'Error'}: {error.message}"
    return f"{type(error).__name__}: {error}"


def permanent(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


@dataclass
class Attempt:
    """One claimed attempt; `accepted()` is called the moment the receiver took the message."""

    store: DeliveryStore
    key: DeliveryKey
    created_at: datetime
    done: bool = False
    recorded: asyncio.Future[None] | None = field(default=None, repr=False)

    async def accepted(self) -> None:
        """Record that the receiver has the message. The write is retried through a short
        database outage (`MARK_PATIENCE`): lost, the retry after the lease would send the
        message again."""
        self.recorded = asyncio.ensure_future(patiently(lambda: self.store.mark_sent(self.key)))
        await asyncio.shield(self.recorded)


MARK_PATIENCE = 15.0
"""Seconds a delivery keeps trying to record its acceptance (inside the attempt's timeout)."""


async def patiently(write: Callable[[], Awaitable[None]]) -> None:
    """Run `write`, retried through a short database outage (`MARK_PATIENCE`)."""
    loop = asyncio.get_running_loop()
    give_up, delay = loop.time() + MARK_PATIENCE, 0.2
    while True:
        try:
            return await write()
        except Exception:  # the database restarting; anything else fails again at the end
            if loop.time() + delay > give_up:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def heartbeat(every: float) -> None:
    """Beat from the first interval on, not at once: most sends end within milliseconds,
    and a beat at the start is a Temporal write per message that proves nothing yet."""
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


@contextlib.asynccontextmanager
async def claimed(
    store: DeliveryStore, key: DeliveryKey, delivery_key: str
) -> AsyncIterator[Attempt]:
    """Claim the delivery, heartbeat while sending, record why an attempt failed."""
    if key.event not in EVENTS:
        raise permanent(f"no message for event {key.event!r}", "UnknownEvent")
    info = activity.info()
    lease = (info.start_to_close_timeout or timedelta(minutes=1)) + LEASE_MARGIN
    token = uuid.uuid4().hex
    try:
        claim = await store.claim(key, token, lease, delivery_key)
    except UnknownOrder as error:
        raise permanent(f"order {error} not found", "OrderNotFound") from None
    if claim.outcome == "busy":
        raise ApplicationError(
            "another attempt holds this delivery; retrying after its lease",
            type="DeliveryInProgress",
        )
    attempt = Attempt(store, key, claim.created_at, done=claim.outcome == "sent")
    if attempt.done:
        yield attempt
        return
    beat = info.heartbeat_timeout
    beating = asyncio.create_task(heartbeat(beat.total_seconds() / 3)) if beat else None
    try:
        yield attempt
    except BaseException as error:
        converted: BaseException = error
        if isinstance(error, UnknownOrder):
            converted = permanent(f"order {error} not found", "OrderNotFound")
        elif isinstance(error, SmsRejected):
            converted = permanent(str(error), "SmsRejected")
        elif isinstance(error, EmailRejected):
            converted = permanent(str(error), "EmailRejected")
        elif isinstance(error, UnsafeHeader):  # the same text on every attempt
            converted = permanent(str(error), "UnsafeHeader")
        if attempt.recorded is None:  # never accepted: free the delivery for the retry
            await asyncio.shield(store.release(key, token, describe(converted)))
        if converted is not error:
            raise converted from error
        raise
    finally:
        if beating is not None:
            beating.cancel()
