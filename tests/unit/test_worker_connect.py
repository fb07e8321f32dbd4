"""A worker started while Temporal is unreachable keeps trying for a while, then gives up."""

from __future__ import annotations

import pytest

from adapters.settings import Settings
from workers import runner


async def test_a_worker_retries_an_unreachable_cluster_then_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tries: list[str] = []

    async def unreachable(settings: Settings, **_: object) -> None:
        tries.append(settings.temporal_address)
        raise RuntimeError("Failed client connect: connection refused")

    monkeypatch.setattr(runner, "connect", unreachable)

    with pytest.raises(RuntimeError, match="connect"):
        await runner.connect_patiently(Settings(), within=1.0)

    assert len(tries) >= 3  # tried again, with backoff, before giving up
