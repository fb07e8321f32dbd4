"""The one way the tooling starts a process: a child we own by pid, its output in a log file.

`make run`, the chaos run, the bench and the test fixtures all start their processes here.
Every child leads a session (and so a process group) of its own: a Ctrl-C in the terminal
reaches only the orchestrator, which then stops the parts itself, and a stop reaches the
child's own children too. Nothing is ever stopped by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
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
    stopper: Callable[[], None] | None = field(default=None, repr=False)
    """Replaces the pid-based stop for parts that are not our child (embedded PostgreSQL)."""

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return pid_alive(self.pid)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    def send(self, signum: int) -> None:
        """Send `signum` to the child's process group (its own children included)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass  # ended between the poll and the signal

    def terminate(self) -> None:
        """Ask the part to stop (SIGTERM, or its own stopper) without waiting for it."""
        if self.stopper is not None:
            self.stopper()
        else:
            self.send(signal.SIGTERM)

    def wait_stopped(self, grace: float) -> None:
        """Wait up to `grace` seconds for the child to exit, then SIGKILL its group."""
        if self.process is None:
            return
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; idempotent."""
        self.terminate()
        self.wait_stopped(grace)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight work is lost mid-way (what chaos wants)."""
        self.send(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the log, introduced by its path; empty without one."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return f"; last lines of {self.log_file}:\n" + "\n".join(tail)


def stop_together(services: Iterable[Service], grace: float) -> None:
    """Ask every part to stop at once, then give each up to `grace` seconds before SIGKILL."""
    services = list(services)
    for service in services:
        service.terminate()
    for service in services:
        service.wait_stopped(grace)


def spawn(
    name: str,
    argv: list[str],
    *,
    log_file: Path,
    address: str = "",
    env: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    echo: Callable[[str], None] | None = None,
) -> Service:
    """Start `argv` in its own session with its output appended to `log_file`.

    With `echo`, each line also goes to `echo` as it comes (`make run` labels and prints
    them), read by a daemon thread; without, the child writes to the file directly.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log if echo is None else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if echo is not None:
        assert process.stdout is not None
        threading.Thread(
            target=_forward, args=(process.stdout, log_file, echo), name=name, daemon=True
        ).start()
    return Service(name, address or name, process.pid, log_file, process)


def python_m(*module_args: str) -> list[str]:
    """The command line of `python -m <module_args>` with this interpreter."""
    return [sys.executable, "-m", *module_args]


def run_to_end(
    name: str, module_args: list[str], env: dict[str, str], *, quiet: bool = False
) -> None:
    """`python -m <module_args>` to completion in the repository, for one-off chores.

    Its output goes to the terminal, or with `quiet` into the error should it fail.
    """
    done = subprocess.run(
        python_m(*module_args), cwd=REPO_ROOT, env=env, check=False, capture_output=quiet
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-4000:] if quiet else ""
        where = f":\n{output}" if quiet else " (output above)"
        raise ServiceError(f"{name} failed with exit code {done.returncode}{where}")


def _forward(stream: IO[bytes], log_file: Path, echo: Callable[[str], None]) -> None:
    with log_file.open("ab") as log:
        for raw in iter(stream.readline, b""):
            log.write(raw)
            log.flush()
            echo(raw.decode(errors="replace").rstrip("\r\n"))


def free_port() -> int:
    """A TCP port nobody listens on right now (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """A console script installed next to this interpreter, else the one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


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
