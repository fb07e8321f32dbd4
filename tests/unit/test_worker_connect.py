"""A worker started while Temporal is unreachable keeps trying for a while, then gives up."""

from __future__ import annotations

import asyncio
import socket

import pytest

from adapters.settings import Settings
from workers.runner import connect_patiently


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_worker_retries_an_unreachable_cluster_then_gives_up() -> None:
    settings = Settings(temporal_address=f"127.0.0.1:{_closed_port()}")
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(RuntimeError, match="connect"):
        await connect_patiently(settings, within=1.5)

    assert loop.time() - started >= 0.7  # it tried again, with backoff, before giving up
