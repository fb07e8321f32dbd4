"""A process we own by pid, with a readiness probe and a stop that always ends it.

Every process is started in its own session so a Ctrl-C in the terminal reaches only the
orchestrator, which then stops the parts in reverse order; nothing is ever stopped by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ServiceError(RuntimeError):
    """A part of the stack did not start or did not become ready in time."""


@dataclass
class Service:
    """A running part of the stack: where to reach it, its pid, and how to stop it."""

    name: str
    address: str
    """A URL (`http://...`, `postgresql+asyncpg://...`) or a `host:port` address."""
    pid: int
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    probe: Callable[[], bool] | None = field(default=None, repr=False)
    stopper: Callable[[], None] | None = field(default=None, repr=False)
    """Replaces the pid-based stop for parts that are not our child (embedded PostgreSQL)."""

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return pid_alive(self.pid)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll the readiness probe; fail early, with the log's tail, if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise ServiceError(f"{self.name} exited during start-up{self._log_tail()}")
            if self.probe is None or self.probe():
                return
            if time.monotonic() > deadline:
                raise ServiceError(f"{self.name} not ready after {timeout:.0f}s{self._log_tail()}")
            time.sleep(0.2)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; idempotent."""
        if self.stopper is not None:
            self.stopper()
            return
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait()

    def _log_tail(self, lines: int = 20) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return f"; last lines of {self.log_file}:\n" + "\n".join(tail)


def free_port() -> int:
    """A TCP port nobody listens on right now (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def venv_bin(name: str) -> str:
    """A console script installed next to this interpreter, else the one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


def spawn(
    name: str,
    argv: list[str],
    *,
    address: str,
    log_file: Path,
    probe: Callable[[], bool] | None = None,
    **popen: Any,
) -> Service:
    """Start `argv` in its own session with its output appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,
        )
    return Service(name, address, process.pid, log_file, process, probe)


def start_ready(service: Service, timeout: float) -> Service:
    """Wait for `service`; if it never gets ready, stop it so nothing is left behind."""
    try:
        service.wait_ready(timeout)
    except BaseException:
        service.stop(grace=5)
        raise
    return service


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust the signal check
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
