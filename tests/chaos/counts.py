"""What the chaos run counts once its orders are done: each count must be 0 ("nothing lost"
and "never stuck" in docs/orders.md). Every count prints a line per order or sku it
counts, so a failure says where to look.

- `lost`: an order not where its kind must end (tests/chaos/shop.py), or shipped without a
  capture in Stripe.
- `double_captures`: an order with more than one captured PaymentIntent.
- `refunded_over_captured`: an order that refunded more than it captured, in the ledger
  (the read model) or in Stripe.
- `stock_mismatches`: a sku whose stock does not add up: on hand is the starting stock less
  the units committed plus the units restocked, reserved is what orders still hold; each
  order's committed units are its shipped units and its restocked units those of its
  received returns (so each unit is counted once); what an order reserved is committed,
  released or still held.
- `stuck`: an order workflow still running that waits on nothing: no timer, no activity,
  no workflow task, nor its payment (while it authorizes, or once it is over and waits
  for the payment process to end); or one whose workflow task keeps
  failing, or that failed or was terminated.
- `duplicate_emails`: a second message for the same (order, event, occurrence) that a kill
  does not explain. The one resend activities/delivery_claims.py allows, after the
  notifications worker was SIGKILLed between the sink's acceptance and the delivery's
  `sent` write, is printed, not counted: the first copy was stored at most `KILL_WINDOW`
  seconds before that kill, and the resend carries the same Message-ID.
- `unsent_emails`: a message the order's customer must get (one per customer-notified event
  and occurrence of its timeline) and never got, once the run has waited for the last
  retries.
- `duplicate_webhooks`: a second request the merchant's receiver took for the same event id
  (tests/chaos/merchant.py; a receiver deduplicating by `X-Event-Id` would drop it) that the
  delivery log does not explain. The one resend docs/webhooks.md allows, after an attempt
  whose answer was lost (the worker killed between the receiver's 2xx and the log's write,
  or a request that timed out after the receiver took it), is printed, not counted: the log
  holds that attempt as ended without an answer, and the resend carries the same id.
- `unsent_webhooks`: an event occurrence of the timeline the receiver never took, or whose
  delivery the engine's log does not hold exactly once as `sent`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from activities.messages import WEBHOOK_EVENTS
from devstack.mailbox import read_mailbox, stored_mail
from domain.events import DomainEvent
from domain.lifecycle import OrderStatus
from tests.chaos.shop import Order, Script
from workflows.names import order_workflow_id
from workflows.webhook_contracts import event_id

Stock = dict[str, tuple[int, int]]
"""(on hand, reserved) per sku."""


def say(line: str) -> None:
    print(f"chaos: {line}", flush=True)


async def stock(database_url: str) -> Stock:
    """Every product's units on hand and reserved."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT sku, on_hand, reserved FROM products"))
            return {sku: (on_hand, reserved) for sku, on_hand, reserved in rows.all()}
    finally:
        await engine.dispose()


def lost(scripts: Iterable[Script], orders: dict[str, Order | None]) -> list[str]:
    astray = []
    for script in scripts:
        if (why := script.astray(orders.get(script.order_id))) is not None:
            say(f"order {script.order_id} ({script.kind}) {why}")
            astray.append(script.order_id)
    return astray


def payments(stripe_base: str, scripts: list[Script], ledger: dict[str, Order]) -> dict[str, int]:
    """Captures and refunds as Stripe and the ledger hold them."""
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": stripe_base})
    intents = _all(client.v1.payment_intents.list)
    refunds = _all(client.v1.refunds.list)
    succeeded: collections.Counter[str] = collections.Counter()
    captured: collections.Counter[str] = collections.Counter()
    by_charge = {_id(i["latest_charge"]): i for i in intents if i.get("latest_charge")}
    for intent in intents:
        if intent["status"] == "succeeded":
            succeeded[intent["metadata"].get("order_id")] += 1
            captured[intent["metadata"].get("order_id")] += int(intent["amount"])
    refunded: collections.Counter[str] = collections.Counter()
    for refund in refunds:
        paid = by_charge.get(str(refund.get("charge")))
        if paid is None:
            continue
        order_id = paid["metadata"].get("order_id")
        if refund.get("payment_intent"):  # one the engine asked for
            refunded[order_id] += int(refund["amount"])
        else:  # what a capture below the authorization gave back (localstripe's way)
            captured[order_id] -= int(refund["amount"])
    double = [order_id for order_id, n in succeeded.items() if n > 1]
    for order_id in double:
        say(f"order {order_id} has {succeeded[order_id]} captured PaymentIntents")
    uncaptured = [
        s.order_id for s in scripts if s.kind != "cancelled" and succeeded[s.order_id] == 0
    ]
    for order_id in uncaptured:
        say(f"order {order_id} was shipped without a capture in Stripe")
    over = set()
    for script in scripts:
        order_id, row = script.order_id, ledger.get(script.order_id) or {}
        if row.get("refunded", 0) > row.get("captured", 0):
            say(f"order {order_id} refunded {row['refunded']} of {row['captured']} (ledger)")
            over.add(order_id)
        if refunded[order_id] > captured[order_id]:
            say(f"order {order_id} refunded {refunded[order_id]} of {captured[order_id]} (Stripe)")
            over.add(order_id)
        if row and refunded[order_id] != row.get("refunded", 0):  # told, not counted
            say(
                f"order {order_id}: Stripe refunded {refunded[order_id]}, the ledger "
                f"{row.get('refunded')} (localstripe ignores idempotency keys: a refund "
                "retried after a kill is made twice there, once in real Stripe)"
            )
    return {
        "uncaptured": len(uncaptured),
        "double_captures": len(double),
        "refunded_over_captured": len(over),
    }


def _id(found: Any) -> str:
    """The id of a Stripe object given as its id or expanded (localstripe expands charges)."""
    return str(found["id"] if isinstance(found, dict) else found)


def _all(listing: Any) -> list[dict[str, Any]]:
    """Every object of a Stripe list, page by page."""
    page = listing(params={"limit": 100})
    found = [item.to_dict() for item in page.data]
    while page.has_more and page.data:
        page = listing(params={"limit": 100, "starting_after": page.data[-1].id})
        found += [item.to_dict() for item in page.data]
    return found


async def ledger(database_url: str, order_ids: list[str]) -> tuple[dict[str, Order], Any]:
    """The orders' rows of the read model, and their reservations and stock moves."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            ids = {"ids": order_ids}
            orders = await conn.execute(
                text(
                    "SELECT id, status, lines, returns, captured, refunded FROM orders"
                    " WHERE id = ANY(:ids)"
                ),
                ids,
            )
            held = await conn.execute(
                text(
                    "SELECT order_id, sku, status, quantity FROM reservations"
                    " WHERE order_id = ANY(:ids)"
                ),
                ids,
            )
            moves = await conn.execute(
                text("SELECT order_id, kind, lines FROM stock_moves WHERE order_id = ANY(:ids)"),
                ids,
            )
            rows = {row["id"]: dict(row) for row in orders.mappings().all()}
            return rows, (held.all(), moves.all())
    finally:
        await engine.dispose()


def stock_mismatches(
    start: Stock,
    end: Stock,
    scripts: list[Script],
    rows: dict[str, Order],
    moved: Any,
) -> int:
    """The skus whose stock does not add up (the module's docstring says how)."""
    reservations, moves = moved
    # units per (order, sku) and kind: committed, released, restocked, held
    units: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    for order_id, sku, status, quantity in reservations:
        kind = {"reserved": "held", "committed": "commit", "released": "release"}[status]
        units[(order_id, sku)][kind] += quantity
    for order_id, kind, lines in moves:
        for line in lines:
            units[(order_id, line["sku"])][kind] += line["quantity"]
    wrong: set[str] = set()

    def mismatch(sku: str, what: str) -> None:
        say(f"stock {sku}: {what}")
        wrong.add(sku)

    for script in scripts:
        row = rows.get(script.order_id)
        if row is None:
            continue
        shipped = {line["sku"]: line.get("shipped", 0) for line in row["lines"]}
        restocked: collections.Counter[str] = collections.Counter()
        for back in row["returns"]:
            if back["status"] == "received" and back.get("restock", True):
                for line in back["lines"]:
                    restocked[line["sku"]] += line["quantity"]
        final = row["status"] in {"delivered", "cancelled", "refunded"}
        for sku, placed in script.placed.items():
            got = units[(script.order_id, sku)]
            order = f"order {script.order_id} ({script.kind}, {row['status']})"
            if got["commit"] + got["release"] + got["held"] != placed:
                mismatch(sku, f"{order} reserved {placed}, moved {dict(got)}")
            if got["commit"] != shipped.get(sku, 0):
                mismatch(sku, f"{order} shipped {shipped.get(sku, 0)}, committed {got['commit']}")
            if got["restock"] != restocked[sku]:
                mismatch(sku, f"{order} received {restocked[sku]} back, restocked {got['restock']}")
            if final and got["held"]:
                mismatch(sku, f"{order} still holds {got['held']}")
    for sku, (on_hand, reserved) in end.items():
        of_sku = [got for (_, s), got in units.items() if s == sku]
        committed = sum(got["commit"] for got in of_sku)
        restocked_units = sum(got["restock"] for got in of_sku)
        held = sum(got["held"] for got in of_sku)
        first_on_hand, first_reserved = start.get(sku, (0, 0))
        if on_hand != first_on_hand - committed + restocked_units:
            mismatch(
                sku,
                f"{on_hand} on hand, started with {first_on_hand}, {committed} committed, "
                f"{restocked_units} restocked",
            )
        if reserved != first_reserved + held:
            mismatch(sku, f"{reserved} reserved, started with {first_reserved}, orders hold {held}")
    return len(wrong)


async def stuck(temporal: str, orders: dict[str, Order | None]) -> int:
    """Order workflows that wait on nothing (the module's docstring says which)."""
    client = await Client.connect(temporal)
    found = 0
    for order_id, order in orders.items():
        handle = client.get_workflow_handle(order_workflow_id(order_id))
        described = await handle.describe()
        status = order["status"] if order else None
        why = None
        if described.status not in {
            WorkflowExecutionStatus.RUNNING,
            WorkflowExecutionStatus.COMPLETED,
        }:
            why = f"its workflow is {described.status.name if described.status else None}"
        elif described.status == WorkflowExecutionStatus.RUNNING:
            raw = described.raw_description
            task = raw.pending_workflow_task if raw.HasField("pending_workflow_task") else None
            if task is not None and task.attempt > 1:
                why = f"its workflow task failed {task.attempt - 1} times"
            elif task is None and not raw.pending_activities and not await _timers(handle):
                if not (raw.pending_children and _waits_on_payment(status)):
                    why = "its workflow waits on nothing"
        if why is not None:
            say(f"order {order_id} ({status}): {why}")
            found += 1
    return found


def _waits_on_payment(status: str | None) -> bool:
    """Whether an order waits on its payment child: while it authorizes, and once it is
    over, until the payment process has ended (workflows/order.py, `_end_payment`)."""
    over = {str(final) for final in OrderStatus if final.is_final}
    return status == OrderStatus.ACCEPTED or status in over


async def _timers(handle: WorkflowHandle[Any, Any]) -> int:
    """The workflow's timers started and neither fired nor cancelled."""
    running: set[str] = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            running.add(event.timer_started_event_attributes.timer_id)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            running.discard(event.timer_fired_event_attributes.timer_id)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            running.discard(event.timer_canceled_event_attributes.timer_id)
    return len(running)


def _sent(mail_dir: Path) -> collections.Counter[tuple[str, str, int]]:
    """Messages per (order, event, occurrence), from their `X-Delivery-Key`
    (`order/event/channel[/occurrence]`)."""
    return collections.Counter(_key(message) for message in read_mailbox(mail_dir))


def _key(message: Any) -> tuple[str, str, int]:
    """A message's (order, event, occurrence), from its `X-Delivery-Key`."""
    order_id, event, _channel, *nth = str(message["X-Delivery-Key"]).split("/")
    return order_id, event, int(nth[0]) if nth else 1


def told(timelines: dict[str, list[str]]) -> list[tuple[str, str, int]]:
    """(order, event, occurrence) of each message the order's customer must get: one per
    customer-notified event of its timeline (`domain/events.py`), whatever path the order
    took. (Not its script's path: a decision whose workflow task was lost with a killed
    worker may have written the read model, e.g. `confirmed`, before its retry decided
    another way, e.g. the customer's cancel taken first; the history's path is the one
    told.)"""
    notify = {kind.name: kind.notify for kind in _events() if kind.notify is not None}
    expected = []
    for order_id, types in timelines.items():
        seen: collections.Counter[str] = collections.Counter()
        for kind in types:
            if (event := notify.get(kind)) is not None:
                seen[event] += 1
                expected.append((order_id, event, seen[event]))
    return expected


def _events() -> list[type[DomainEvent]]:
    found, pending = [], [DomainEvent]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending += kind.__subclasses__()
    return found


def unsent(mail_dir: Path, expected: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Each expected (order, event, occurrence) message not sent."""
    sent = _sent(mail_dir)
    return [key for key in expected if sent[key] == 0]


KILL_WINDOW = 5.0
"""Seconds between the sink storing a message and the delivery's `sent` write, at most (it
follows the sink's 250 at once; `MARK_PATIENCE` stretches it only while PostgreSQL is down,
and the run never kills a worker then)."""


def duplicate_emails(
    mail_dir: Path, expected: list[tuple[str, str, int]], kills: Iterable[float] = ()
) -> tuple[int, int]:
    """Messages sent again for the same (order, event, occurrence) that no SIGKILL of the
    notifications worker (`kills`, Unix times) explains, and how many of those the orders
    must get were never sent."""
    first: dict[tuple[str, str, int], tuple[float, str]] = {}
    duplicates = 0
    for stored_at, message in stored_mail(mail_dir):
        key, message_id = _key(message), str(message["Message-ID"])
        if key not in first:
            first[key] = (stored_at, message_id)
            continue
        taken, first_id = first[key]
        order_id, event, occurrence = key
        if message_id == first_id and any(0 <= kill - taken <= KILL_WINDOW for kill in kills):
            say(f"order {order_id}: {event} #{occurrence} sent again after a kill (allowed)")
            continue
        say(f"order {order_id}: another email for {event} #{occurrence}")
        duplicates += 1
    missing = unsent(mail_dir, expected)
    by_event = collections.Counter(event for _, event, _ in missing)
    for event, n in sorted(by_event.items()):
        some = [f"{o} #{k}" for o, e, k in missing if e == event][:3]
        say(f"{n} emails for {event} never sent (as {', '.join(some)})")
    return duplicates, len(missing)


def webhook_events(expected: list[tuple[str, str, int]]) -> dict[str, tuple[str, str, int]]:
    """The event id of each (order, event, occurrence) the merchant's endpoint must get (every
    event it may take: its subscription is `*`)."""
    return {event_id(*key): key for key in expected if key[1] in WEBHOOK_EVENTS}


async def webhook_log(database_url: str, event_ids: list[str]) -> dict[str, list[str]]:
    """The status of each delivery the engine's log holds for these event ids."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT event_id, status FROM webhook_deliveries WHERE event_id = ANY(:ids)"),
                {"ids": event_ids},
            )
            log: dict[str, list[str]] = collections.defaultdict(list)
            for found, status in rows.all():
                log[found].append(status)
            return log
    finally:
        await engine.dispose()


_NOT_TAKEN = ("connection refused", "unsafe address", "TLS ", "unresolvable")
"""How the log's errors of a request that never reached the receiver begin."""


def _maybe_taken(error: str | None) -> bool:
    """Whether an attempt that ended without an answer may have had its body taken."""
    if error is None:
        return True
    refused = error.startswith(_NOT_TAKEN)
    return not (refused or error.endswith((" connecting", " waiting for a connection")))


async def webhook_lost_answers(database_url: str, event_ids: list[str]) -> collections.Counter[str]:
    """Per event id, the attempts the log holds as ended without the receiver's answer
    after the request may have reached it: each may explain one resend."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT d.event_id, a.error FROM webhook_attempts a"
                    " JOIN webhook_deliveries d ON d.id = a.delivery_id"
                    " WHERE d.event_id = ANY(:ids) AND a.status_code IS NULL"
                    " AND a.outcome <> 'sent'"
                ),
                {"ids": event_ids},
            )
            return collections.Counter(found for found, error in rows.all() if _maybe_taken(error))
    finally:
        await engine.dispose()


def settled(
    received: collections.Counter[str],
    expected: dict[str, tuple[str, str, int]],
    log: dict[str, list[str]],
) -> bool:
    """Every event taken and its delivery logged sent: no retry of them is left to come."""
    return all(received[found] > 0 and log.get(found) == ["sent"] for found in expected)


def webhooks(
    received: collections.Counter[str],
    expected: dict[str, tuple[str, str, int]],
    log: dict[str, list[str]],
    lost_answers: collections.Counter[str] | None = None,
) -> tuple[int, int]:
    """Event ids the receiver took more than once, beyond one resend per attempt whose answer
    was lost, and those it must have taken but did not (or that the engine's log does not
    record as one `sent` delivery)."""
    lost = lost_answers or collections.Counter()
    duplicates = 0
    for found, n in sorted(received.items()):
        if n > 1:
            explained = min(n - 1, lost[found])
            duplicates += n - 1 - explained
            why = f", {explained} after an attempt whose answer was lost" if explained else ""
            say(f"webhook {found} taken {n} times{why}")
    unsent = []
    for found, (order_id, event, occurrence) in sorted(expected.items()):
        if received[found] == 0:
            unsent.append(found)
            say(f"order {order_id}: webhook for {event} #{occurrence} never taken ({found})")
        elif log.get(found) != ["sent"]:
            unsent.append(found)
            say(f"order {order_id}: webhook {found} logged as {log.get(found, [])}, not one sent")
    return duplicates, len(unsent)
