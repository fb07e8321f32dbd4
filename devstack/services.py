"""Start each real part of the local stack as a process we own, ready when this returns.

The test fixtures and `python -m devstack` both use these; PostgreSQL lives in
`devstack.postgres` (it is started in-process) and is re-exported here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from devstack.postgres import ensure_database, start_postgres
from devstack.process import (
    Service,
    free_port,
    python_m,
    spawn,
    venv_bin,
)
from devstack.ready import answers, is_listening, listening, start_ready
from workflows.names import SEARCH_ATTRIBUTES

__all__ = [
    "Service",
    "ensure_database",
    "free_port",
    "register_stripe_webhook",
    "start_localstripe",
    "start_postgres",
    "start_smtp_sink",
    "start_temporal",
]

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""For the dev server's SQLite file: write-ahead logging with one fsync per checkpoint
instead of one per transaction. A killed or restarted server loses nothing (the chaos
run restarts it); only a power cut could lose the last commits of a local stack."""


def start_temporal(
    *,
    port: int,
    ui_port: int,
    db_file: Path | None,
    log_file: Path,
    timeout: float = 60.0,
    ui_codec_endpoint: str | None = None,
) -> Service:
    """The Temporal dev server with the engine's search attributes registered at start.

    With `ui_codec_endpoint` (the API's `/codec`), the UI shows payloads decoded.

    Restarting on an existing db file with the same flags works (`make run` keeps its data),
    but the server applies the flags only when it creates the file, so attributes added
    later are registered through the operator API once the server is up.
    """
    temporal = venv_bin("temporal")
    address = f"127.0.0.1:{port}"
    argv = [temporal, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    argv += ["--ui-port", str(ui_port), "--log-level", "warn"]
    if ui_codec_endpoint:
        argv += ["--ui-codec-endpoint", ui_codec_endpoint]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--db-filename", str(db_file)]
        for pragma in SQLITE_PRAGMAS:
            argv += ["--sqlite-pragma", pragma]
    for attribute, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{attribute}={kind}"]

    def probe() -> bool:
        if not is_listening("127.0.0.1", port):
            return False
        describe = [temporal, "operator", "namespace", "describe", "--address", address]
        result = subprocess.run(
            [*describe, "--namespace", "default"], capture_output=True, timeout=10, check=False
        )
        return result.returncode == 0

    service = spawn("temporal", argv, address=address, log_file=log_file)
    start_ready(service, probe, timeout)
    try:
        _add_missing_search_attributes(temporal, address)
    except BaseException:
        service.stop(grace=5)
        raise
    return service


def _add_missing_search_attributes(temporal: str, address: str) -> None:
    """Register attributes the flags did not: the server honours them only on a new db file."""
    listing = subprocess.run(
        [temporal, "operator", "search-attribute", "list", "--address", address, "-o", "json"],
        capture_output=True,
        timeout=20,
        check=True,
    )
    present = json.loads(listing.stdout).get("customAttributes", {})
    for attribute, kind in SEARCH_ATTRIBUTES.items():
        if attribute not in present:
            create = [temporal, "operator", "search-attribute", "create", "--address", address]
            subprocess.run(
                [*create, "--name", attribute, "--type", kind],
                capture_output=True,
                timeout=20,
                check=True,
            )


def start_localstripe(*, port: int, log_file: Path, timeout: float = 30.0) -> Service:
    """localstripe, empty on every start and kept in memory (devstack/localstripe.py).

    It listens on every interface (it binds `::`).
    """
    url = f"http://127.0.0.1:{port}"
    argv = python_m("devstack.localstripe", "--port", str(port), "--from-scratch")
    service = spawn("localstripe", argv, log_file=log_file, address=url)
    # its 401 to a request without a key means up; any other answer is another server on
    # that port (it happened: Temporal's HTTP API), and localstripe's own exit then says why
    return start_ready(service, answers(url + "/v1/balance", status=401), timeout)


def register_stripe_webhook(
    stripe_base: str, webhook_id: str, url: str, secret: str, events: list[str] | None = None
) -> None:
    """Tell localstripe where to POST its events, signed with `secret`.

    localstripe's own endpoint (no API key needed); `events=None` means every event type.
    It signs like Stripe (`Stripe-Signature: t=...,v1=...`) and delivers about 1 s after
    the change, once, without retries.
    """
    body: dict[str, Any] = {"url": url, "secret": secret}
    if events is not None:
        body["events"] = events
    response = httpx.post(f"{stripe_base.rstrip('/')}/_config/webhooks/{webhook_id}", json=body)
    response.raise_for_status()


def start_smtp_sink(*, port: int, mail_dir: Path, log_file: Path, timeout: float = 20.0) -> Service:
    """The SMTP sink (`devstack.smtp_sink`) writing each message to `mail_dir`."""
    argv = python_m("devstack.smtp_sink", "--port", str(port), "--mail-dir", str(mail_dir))
    service = spawn("smtp", argv, log_file=log_file, address=f"127.0.0.1:{port}")
    return start_ready(service, listening("127.0.0.1", port), timeout)
