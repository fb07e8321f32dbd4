"""A message the receiver took is recorded as sent even through a short database outage:
lost, the retry after the claim's lease would send it a second time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.delivery_claims import Attempt
from activities.notification_ports import DeliveryKey


class FlakyStore:
    """Fails `mark_sent` a number of times (the database restarting), then records it."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.sent: list[DeliveryKey] = []

    async def mark_sent(self, key: DeliveryKey) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("the database system is shutting down")
        self.sent.append(key)


KEY = DeliveryKey(order_id="ord_1", event="refund_issued", channel="email", occurrence=2)


async def test_acceptance_is_recorded_once_the_database_is_back() -> None:
    store = FlakyStore(failures=2)
    attempt = Attempt(store, KEY, datetime.now(UTC))  # type: ignore[arg-type]

    await attempt.accepted()

    assert (store.calls, store.sent) == (3, [KEY])


async def test_an_acceptance_that_cannot_be_recorded_fails_the_attempt_in_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("activities.delivery_claims.MARK_PATIENCE", 0.5)
    store = FlakyStore(failures=1000)
    attempt = Attempt(store, KEY, datetime.now(UTC))  # type: ignore[arg-type]

    with pytest.raises(ConnectionError):
        await attempt.accepted()
    assert store.sent == []
