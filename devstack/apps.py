"""The engine's own processes (workers, API) run as children whose output we label.

Each line a child writes goes to the terminal prefixed with the child's name, and to
`<logs>/<name>.log`, so interleaved output stays readable and nothing is lost on exit.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from devstack.process import Service

APPS = (
    ("orders", "workers.orders"),
    ("payments", "workers.payments"),
    ("notifications", "workers.notifications"),
    ("api", "api"),
)
"""(name, module) in start order; they stop in the reverse order."""

_terminal = threading.Lock()


def say(name: str, line: str) -> None:
    """One labelled line on the terminal, never interleaved with another's."""
    with _terminal:
        sys.stdout.write(f"{name:>13} | {line}\n")
        sys.stdout.flush()


def start_app(name: str, module: str, *, env: dict[str, str], cwd: Path, log_file: Path) -> Service:
    """`python -m <module>` in its own session, its output forwarded by a daemon thread."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    threading.Thread(
        target=_forward, args=(name, process.stdout, log_file), name=f"forward-{name}", daemon=True
    ).start()
    return Service(name, module, process.pid, log_file, process)


def _forward(name: str, stream: IO[bytes], log_file: Path) -> None:
    with log_file.open("ab") as log:
        for raw in iter(stream.readline, b""):
            log.write(raw)
            log.flush()
            say(name, raw.decode(errors="replace").rstrip("\r\n"))
