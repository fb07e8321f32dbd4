"""A whole stack of its own for the chaos run, the bench and the tests that kill processes.

Temporal dev server, localstripe, the SMTP sink, the embedded PostgreSQL, the three workers
and the API, all on free ports in a folder of its own (`base`); nothing of `make run` is
touched. Each part can be stopped, killed and started again on its own, which is what the
chaos run does to it ("nothing lost" in docs/orders.md).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.apps import APPS, start_app
from devstack.db import migrate_and_seed
from devstack.process import Service, python_m, spawn, stop_together
from devstack.ready import answers, wait_ready
from devstack.services import (
    free_port,
    start_localstripe,
    start_postgres,
    start_smtp_sink,
    start_temporal,
)

OPERATOR_PASSWORD = "chaos-operator-password"  # noqa: S105 - a throwaway stack's
API_READY_TIMEOUT = 90.0
APPS_GRACE = 15.0


@dataclass
class Stack:
    """The real parts (`services`) and the engine's processes (`apps`), each restartable."""

    base: Path
    env: dict[str, str]
    temporal_port: int
    stripe_port: int
    smtp_port: int
    api_port: int
    services: dict[str, Service] = field(default_factory=dict)
    apps: dict[str, Service] = field(default_factory=dict)
    """The engine's processes and any other started with `start`: stopped before the parts."""

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mail_dir(self) -> Path:
        return self.base / "mail"

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    def start_temporal(self) -> None:
        self.services["temporal"] = start_temporal(
            port=self.temporal_port,
            ui_port=free_port(),
            db_file=self.base / "temporal.db",
            log_file=self.logs / "temporal.log",
        )

    def start_postgres(self) -> None:
        self.services["postgres"] = start_postgres(self.base / "postgres")

    def start_smtp(self) -> None:
        self.services["smtp"] = start_smtp_sink(
            port=self.smtp_port, mail_dir=self.mail_dir, log_file=self.logs / "smtp.log"
        )

    def start_app(self, name: str) -> None:
        """One of the engine's processes (devstack.apps.APPS), with the stack's environment."""
        self.apps[name] = start_app(
            name, env=self.env, log_file=self.logs / f"{name}.log", labelled=False
        )

    def start(self, name: str, module_args: list[str], env: dict[str, str]) -> Service:
        """Any other `python -m` process (the bench's baseline), stopped with the apps."""
        argv = python_m(*module_args)
        self.apps[name] = spawn(name, argv, log_file=self.logs / f"{name}.log", env=env)
        return self.apps[name]

    def kill(self, name: str) -> None:
        """SIGKILL an app: no graceful shutdown, in-flight tasks are lost mid-way."""
        self.apps[name].kill()

    def wait_for_api(self) -> None:
        """Until the API answers /readyz with 200 (PostgreSQL and Temporal up)."""
        url = f"{self.api}/readyz"
        apps = list(self.apps.values())
        what = f"the API at {url}"
        wait_ready(
            what, answers(url), timeout=API_READY_TIMEOUT, watch=apps, log_of=self.apps["api"]
        )

    def stop(self) -> None:
        """The apps together, then the parts in reverse start order."""
        stop_together(self.apps.values(), APPS_GRACE)
        for service in reversed(list(self.services.values())):
            service.stop()


def start_stack(
    base: Path, extra_env: dict[str, str] | None = None, apps: Iterable[str] = APPS
) -> Stack:
    """Every part and the `apps` (all by default) started, the API ready; on any failure,
    all of it stopped again. A run that measures the API alone starts `["api"]`."""
    if os.environ.get("DATABASE_URL"):
        raise SystemExit(
            "chaos restarts PostgreSQL: run it with the embedded one (unset DATABASE_URL)"
        )
    stack = Stack(base, {}, free_port(), stripe_port=0, smtp_port=0, api_port=0)
    stack.logs.mkdir(parents=True)
    try:
        stack.start_temporal()
        # Each other port is chosen once the dev server is up, just before its service
        # binds it: the dev server takes free ports of its own as it starts (its HTTP API,
        # metrics, internal services), and one chosen before could be taken by then (seen:
        # localstripe's, so the stack's "Stripe" answered 405 from Temporal's HTTP API).
        stack.stripe_port = free_port()
        stack.services["localstripe"] = start_localstripe(
            port=stack.stripe_port, log_file=stack.logs / "localstripe.log"
        )
        stack.smtp_port = free_port()
        stack.start_smtp()
        stack.start_postgres()
        stack.api_port = free_port()
        stack.env = {
            # one worker version for the stack's life: a process started again after a
            # commit must not come back as a version nobody made current (its default)
            "WORKER_BUILD_ID": "isolated",
            **os.environ,
            "DATABASE_URL": stack.services["postgres"].address,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.temporal_port}",
            "STRIPE_API_BASE": f"http://127.0.0.1:{stack.stripe_port}",
            "SMTP_PORT": str(stack.smtp_port),
            "API_PORT": str(stack.api_port),
            "JWT_SECRET": "chaos-secret-0123456789-0123456789",
            "OPERATOR_PASSWORD": OPERATOR_PASSWORD,
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            # one client IP registers every customer here
            "RATE_LIMIT_LOGIN": "100000/minute",
            "RATE_LIMIT_REGISTER": "100000/minute",
            "RATE_LIMIT_ORDERS": "100000/minute",
            **(extra_env or {}),
        }
        migrate_and_seed(stack.env, quiet=True)
        for name in apps:
            stack.start_app(name)
        stack.wait_for_api()
    except BaseException:
        stack.stop()
        raise
    return stack


def stop_on_signals() -> None:
    """SIGTERM, and SIGINT even in a background job (which starts with SIGINT ignored), end
    a run as Ctrl-C does: the stack it started is stopped on the way out."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.default_int_handler)
