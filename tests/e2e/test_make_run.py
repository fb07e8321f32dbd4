"""`make run` end to end: the stack as separate processes, driven only over HTTP and curl."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import stripe

from devstack.mailbox import read_mailbox
from devstack.process import Service, free_port, python_m, spawn
from devstack.ready import wait_ready

pytestmark = pytest.mark.e2e
BANNER_END = "Ctrl-C stops everything"


@dataclass
class Stack:
    make_run: Service
    api: str
    stripe: str
    data_dir: Path
    output: list[str]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not under pytest's tmp tree: the embedded PostgreSQL runs as another user, and pytest
    # re-tightens the permissions of its own folders.
    base = Path(tempfile.mkdtemp(prefix="engine-make-run-"))
    data_dir = base / ".data"
    api_port, stripe_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "API_PORT": str(api_port),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "TEMPORAL_UI_URL": f"http://127.0.0.1:{free_port()}",
        "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
        "SMTP_PORT": str(free_port()),
        "LOG_FORMAT": "json",
    }
    env.pop("OPERATOR_PASSWORD", None)
    output = base / "make-run.log"
    make_run = spawn("make run", python_m("devstack"), log_file=output, env=env)
    try:
        wait_ready(
            "make run's banner",
            lambda: BANNER_END in output.read_text(errors="replace"),
            timeout=180,
            watch=[make_run],
        )
        yield Stack(
            make_run,
            f"http://127.0.0.1:{api_port}",
            f"http://127.0.0.1:{stripe_port}",
            data_dir,
            output.read_text().splitlines(),
        )
    finally:
        make_run.stop(grace=60)
        shutil.rmtree(base, ignore_errors=True)


def test_printed_curl_sequence_places_an_order_that_gets_confirmed(stack: Stack) -> None:
    banner = stack.output
    start = next(i for i, line in enumerate(banner) if line.startswith("API="))
    end = next(i for i in range(start, len(banner)) if not banner[i].strip())
    script = "\n".join(banner[start:end])

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
    )

    assert ran.returncode == 0, ran.stderr
    order_id = re.findall(r'"id":"(ord_[a-z0-9]+)"', ran.stdout)[-1]
    status = ""
    for _ in range(100):
        status = httpx.get(f"{stack.api}/v1/orders", headers=_token_header(stack)).json()["items"][
            0
        ]["status"]
        if status == "confirmed":
            break
        time.sleep(0.2)
    assert status == "confirmed"

    client = stripe.StripeClient("sk_test_local", base_addresses={"api": stack.stripe})
    intents = [
        pi
        for pi in client.v1.payment_intents.list(params={"limit": 100}).data
        if pi.to_dict()["metadata"].get("order_id") == order_id
    ]
    assert [pi.status for pi in intents] == ["requires_capture"]

    for _ in range(100):
        subjects = [str(m["Subject"]) for m in read_mailbox(stack.data_dir / "mail")]
        if f"Order {order_id} is confirmed" in subjects:
            break
        time.sleep(0.2)
    assert f"Order {order_id} is confirmed" in subjects


def _token_header(stack: Stack) -> dict[str, str]:
    token = httpx.post(
        f"{stack.api}/v1/auth/token",
        json={"email": "ada@example.com", "password": "correct-horse-battery-staple"},
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_sigterm_stops_every_child_and_exits_cleanly(stack: Stack) -> None:
    children = psutil.Process(stack.make_run.pid).children(recursive=True)
    assert len(children) >= 7  # temporal, localstripe, smtp sink, three workers, api

    stack.make_run.send(signal.SIGTERM)

    assert stack.make_run.process is not None
    assert stack.make_run.process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(children, timeout=15)
    assert [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []
