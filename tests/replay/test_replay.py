"""Committed histories replay against today's workflow code (docs/orders.md, "Determinism").

A failure here means a change would break running workflows: make it with
`workflow.patched` (or worker versioning), then re-record with `make histories`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.workflow import NondeterminismError

from adapters.settings import Settings
from tests.replay.incompatible import ReorderedOrderWorkflow
from workers.replay import replayer
from workflows.notification import NotificationWorkflow
from workflows.payment import PaymentWorkflow

UNENCRYPTED = Settings(_env_file=None)  # type: ignore[call-arg]
"""Recorded without a payload key, as `make histories` runs."""

ROOT = Path(__file__).resolve().parents[1] / "histories"
HISTORIES = sorted(ROOT.rglob("*.json"))
"""The current recordings, and older ones kept in sub-folders named for the change after
which they were recorded: every generation must keep replaying."""


PATHS = (
    *("happy", "declined", "three_d_secure", "review", "cancel", "refund", "reject"),
    *("review_timeout", "three_d_secure_expired", "cancel_authorizing", "cancel_three_d_secure"),
    *("capture_failed", "refund_failed", "delivery_timeout", "refund_replay"),
    "notification_gives_up",
    *("split_shipment", "edit_before_shipment", "edit_after_shipment"),
    *("return_received", "return_rejected", "return_expired", "partial_fulfilment_timeout"),
)
"""Every path an order can take, each recorded by `make histories` (tests/replay/record.py)."""


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_every_main_path_of_every_workflow_has_a_history() -> None:
    names = {path.stem for path in ROOT.glob("*.json")}
    for path_name in PATHS:
        assert {f"order-{path_name}", f"payment-{path_name}"} <= names, path_name
    assert "order-out_of_stock" in names  # rejected before any payment
    assert {"reconciliation", "idempotency_cleanup"} <= names
    # the webhook channel to merchant endpoints, and a redelivery
    assert {"notification-webhook_endpoints", "webhook_delivery"} <= names


@pytest.mark.parametrize("history", HISTORIES, ids=[str(p.relative_to(ROOT)) for p in HISTORIES])
async def test_history_replays_on_the_current_code(history: Path) -> None:
    await replayer(UNENCRYPTED).replay_workflow(load(history))


async def test_an_incompatible_change_to_a_workflow_is_caught() -> None:
    changed = replayer(UNENCRYPTED, [ReorderedOrderWorkflow, PaymentWorkflow, NotificationWorkflow])
    happy = ROOT / "order-happy.json"

    with pytest.raises(NondeterminismError):
        await changed.replay_workflow(load(happy))
