"""The chaos run's counts find what they count (no servers): a unit committed or restocked
twice, stock that leaks, an order short of a delivery, an email sent twice."""

from __future__ import annotations

import os
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.chaos.counts import (
    duplicate_emails,
    settled,
    stock_mismatches,
    told,
    webhook_events,
    webhooks,
)
from tests.chaos.shop import STICKERS, Script

MUG = "MUG-LOGO"
START = {STICKERS: (100, 0), MUG: (50, 0)}


def split_order() -> tuple[Script, dict[str, Any]]:
    """Three stickers and a mug, shipped as two stickers (S-1), then the rest (S-2), and one
    sticker returned, received and restocked."""
    script = Script("o1", "split", {STICKERS: 3, MUG: 1})
    row = {
        "status": "delivered",
        "lines": [{"sku": STICKERS, "shipped": 3}, {"sku": MUG, "shipped": 1}],
        "returns": [
            {"status": "received", "restock": True, "lines": [{"sku": STICKERS, "quantity": 1}]}
        ],
    }
    return script, row


RESERVATIONS = [("o1", STICKERS, "committed", 1), ("o1", MUG, "committed", 1)]
MOVES = [
    ("o1", "commit", [{"sku": STICKERS, "quantity": 2}]),
    ("o1", "restock", [{"sku": STICKERS, "quantity": 1}]),
]


def test_stock_that_adds_up_is_no_mismatch() -> None:
    script, row = split_order()
    end = {STICKERS: (98, 0), MUG: (49, 0)}

    assert stock_mismatches(START, end, [script], {"o1": row}, (RESERVATIONS, MOVES)) == 0


def test_a_shipment_committed_twice_is_a_mismatch_of_its_sku() -> None:
    script, row = split_order()
    moves = [*MOVES, ("o1", "commit", [{"sku": STICKERS, "quantity": 2}])]
    end = {STICKERS: (96, 0), MUG: (49, 0)}  # on hand agrees with the moves: still caught

    assert stock_mismatches(START, end, [script], {"o1": row}, (RESERVATIONS, moves)) == 1


def test_a_return_restocked_twice_or_stock_that_leaks_is_a_mismatch() -> None:
    script, row = split_order()
    moves = [*MOVES, ("o1", "restock", [{"sku": STICKERS, "quantity": 1}])]
    twice = {STICKERS: (99, 0), MUG: (49, 0)}
    leaked = {STICKERS: (98, 0), MUG: (49, 1)}  # a mug reserved by no order

    assert stock_mismatches(START, twice, [script], {"o1": row}, (RESERVATIONS, moves)) == 1
    assert stock_mismatches(START, leaked, [script], {"o1": row}, (RESERVATIONS, MOVES)) == 1


def test_a_finished_order_still_holding_units_is_a_mismatch() -> None:
    script, row = split_order()
    reservations = [("o1", STICKERS, "committed", 1), ("o1", MUG, "reserved", 1)]
    row["lines"][1]["shipped"] = 0
    end = {STICKERS: (98, 0), MUG: (50, 1)}

    assert stock_mismatches(START, end, [script], {"o1": row}, (reservations, MOVES)) == 1


def test_an_order_short_of_a_delivery_or_its_return_is_astray() -> None:
    script, _ = split_order()
    delivered = {"delivered_at": "2026-01-01T00:00:00Z"}
    order = {
        "status": "delivered",
        "shipments": [{"id": "S-1", **delivered}, {"id": "S-2", **delivered}],
        "returns": [],
    }
    undelivered = {**order, "shipments": [{"id": "S-1", **delivered}, {"delivered_at": None}]}
    received = Script("o2", "edited_received", {STICKERS: 3})

    assert script.astray(order) is None
    assert script.astray(undelivered) == "has a shipment not delivered"
    assert received.astray(order) == "has returns [], meant ['received']"


def test_an_email_sent_twice_for_one_event_and_occurrence_is_a_duplicate(tmp_path: Path) -> None:
    keys = ["o1/order_shipped/email", "o1/order_shipped/email/2", "o1/order_shipped/email"]
    for n, key in enumerate(keys):
        message = EmailMessage()
        message["X-Delivery-Key"] = key
        (tmp_path / f"{n}.eml").write_bytes(message.as_bytes())
    timeline = ["order_accepted", "payment_authorized", "order_confirmed", "order_shipped"]
    timeline += ["payment_captured", "stock_committed", "order_shipped", "order_delivered"]
    expected = told({"o1": timeline})

    assert expected == [
        ("o1", "order_accepted", 1),
        ("o1", "order_confirmed", 1),
        ("o1", "order_shipped", 1),
        ("o1", "order_shipped", 2),
        ("o1", "order_delivered", 1),
    ]
    # three of its five messages are missing (accepted, confirmed, delivered)
    assert duplicate_emails(tmp_path, expected) == (1, 3)


def _stored(mail_dir: Path, name: str, key: str, message_id: str, at: float) -> None:
    message = EmailMessage()
    message["X-Delivery-Key"] = key
    message["Message-ID"] = message_id
    path = mail_dir / name
    path.write_bytes(message.as_bytes())
    os.utime(path, (at, at))


def test_a_resend_after_the_sender_was_killed_is_allowed_once_explained(tmp_path: Path) -> None:
    """The sink took the message, then the notifications worker was killed before the
    delivery's `sent` write: the retry after the lease resends it, with the same
    Message-ID. Printed, not counted; any other second copy still is."""
    expected = [("o1", "order_shipped", 1)]
    _stored(tmp_path, "1.eml", "o1/order_shipped/email", "<o1.order_shipped@x>", 1000.0)
    _stored(tmp_path, "2.eml", "o1/order_shipped/email", "<o1.order_shipped@x>", 1040.0)

    assert duplicate_emails(tmp_path, expected, kills=[1000.5]) == (0, 0)
    assert duplicate_emails(tmp_path, expected, kills=[]) == (1, 0)  # no kill: counted
    assert duplicate_emails(tmp_path, expected, kills=[1030.0]) == (1, 0)  # kill long after
    assert duplicate_emails(tmp_path, expected, kills=[999.0]) == (1, 0)  # kill before
    _stored(tmp_path, "2.eml", "o1/order_shipped/email", "<other@x>", 1040.0)
    assert duplicate_emails(tmp_path, expected, kills=[1000.5]) == (1, 0)  # not the same one


def test_a_webhook_taken_twice_or_never_or_not_logged_sent_is_counted() -> None:
    expected = webhook_events([("o1", "order_shipped", 1), ("o1", "refund_issued", 2)])
    shipped, refunded = list(expected)
    received = Counter({shipped: 2})
    log = {shipped: ["sent"], refunded: ["pending"]}

    assert webhooks(received, expected, log) == (1, 1)
    assert webhooks(Counter({shipped: 1, refunded: 1}), expected, log) == (0, 1)  # not logged
    assert webhooks(Counter({shipped: 1, refunded: 1}), expected, {**log, refunded: ["sent"]}) == (
        0,
        0,
    )


def test_a_resend_after_a_lost_answer_is_not_a_duplicate_but_a_second_one_is() -> None:
    expected = webhook_events([("o1", "order_shipped", 1)])
    (shipped,) = expected
    log = {shipped: ["sent"]}

    assert webhooks(Counter({shipped: 2}), expected, log, Counter({shipped: 1})) == (0, 0)
    assert webhooks(Counter({shipped: 3}), expected, log, Counter({shipped: 1})) == (1, 0)
    assert webhooks(Counter({shipped: 2}), expected, log, Counter()) == (1, 0)


def test_webhooks_are_settled_once_each_is_taken_and_logged_sent() -> None:
    expected = webhook_events([("o1", "order_shipped", 1), ("o1", "refund_issued", 2)])
    shipped, refunded = list(expected)
    both = Counter({shipped: 1, refunded: 1})

    assert settled(both, expected, {shipped: ["sent"], refunded: ["sent"]})
    assert not settled(both, expected, {shipped: ["sent"], refunded: ["pending"]})
    assert not settled(Counter({shipped: 1}), expected, {shipped: ["sent"], refunded: ["sent"]})
