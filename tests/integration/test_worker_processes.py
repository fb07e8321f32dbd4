"""Each worker entry point, run as its own process as a Deployment runs it: `/healthz` and
`/metrics` on `<QUEUE>_METRICS_PORT`, and a clean exit on SIGTERM within the grace period.

The workers poll in a namespace of their own, so they take no task from the engine the
other integration tests run in this process.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from adapters.settings import Settings
from devstack.process import free_port, python_m, spawn
from devstack.ready import answers, wait_ready
from tests.integration.test_operations import _namespace

pytestmark = pytest.mark.integration

GRACE_SECONDS = 5


@pytest.fixture(scope="module")
async def namespace(settings: Settings) -> str:
    return await _namespace(settings)


def _env(settings: Settings, namespace: str, queue: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_METRICS_PORT")}
    env.update(
        TEMPORAL_ADDRESS=settings.temporal_address,
        TEMPORAL_NAMESPACE=namespace,
        DATABASE_URL=settings.database_url,
        STRIPE_API_BASE=settings.stripe_api_base,
        SMTP_PORT=str(settings.smtp_port),
        LOG_FORMAT="json",
        WORKER_GRACEFUL_SHUTDOWN=f"PT{GRACE_SECONDS}S",
        PYTHONUNBUFFERED="1",
    )
    env[f"{queue.upper()}_METRICS_PORT"] = str(port)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return env


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(url)


@pytest.mark.parametrize("queue", ["orders", "payments", "notifications"])
async def test_worker_serves_health_and_metrics_then_stops_on_sigterm(
    settings: Settings, namespace: str, queue: str, tmp_path: Path
) -> None:
    port = free_port()
    worker = spawn(
        f"the {queue} worker",
        python_m(f"workers.{queue}"),
        log_file=tmp_path / f"worker-{queue}.log",
        env=_env(settings, namespace, queue, port),
    )
    log = worker.log_file
    assert log is not None and worker.process is not None
    try:
        # it serves /healthz once it is connected to Temporal
        healthz = f"http://127.0.0.1:{port}/healthz"
        await asyncio.to_thread(
            wait_ready, f"{worker.name}'s /healthz", answers(healthz), timeout=60, watch=[worker]
        )
        health = await _get(healthz)
        assert health.status_code == 200, log.read_text()
        assert health.text == "ok\n"
        metrics = ""
        for _ in range(50):  # the SDK's first metrics appear once the pollers start
            metrics = (await _get(f"http://127.0.0.1:{port}/metrics")).text
            if "temporal_" in metrics:
                break
            await asyncio.sleep(0.1)
        assert "temporal_" in metrics, metrics[:2000]
        assert "engine_activity_runs_total" in metrics
        assert (await _get(f"http://127.0.0.1:{port}/nope")).status_code == 404

        worker.send(signal.SIGTERM)
        code = await asyncio.to_thread(worker.process.wait, GRACE_SECONDS + 10)
        assert code == 0, log.read_text()
        lines = log.read_text()
        assert '"worker_stopping"' in lines and '"worker_stopped"' in lines, lines
    finally:
        worker.stop(grace=5)
