"""The engine's own processes (workers, API) run as children whose output we label.

Each line a child writes goes to the terminal prefixed with the child's name, and to
`<logs>/<name>.log`, so interleaved output stays readable and nothing is lost on exit.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from devstack.process import Service, python_m, spawn

APPS = {
    "orders": "workers.orders",
    "payments": "workers.payments",
    "notifications": "workers.notifications",
    "api": "api",
}
"""name: module, in start order; they stop in the reverse order."""

_terminal = threading.Lock()


def say(name: str, line: str) -> None:
    """One labelled line on the terminal, never interleaved with another's."""
    with _terminal:
        sys.stdout.write(f"{name:>13} | {line}\n")
        sys.stdout.flush()


def start_app(name: str, *, env: dict[str, str], log_file: Path, labelled: bool) -> Service:
    """`python -m <the app's module>` in its own session; `labelled`: also on the terminal."""
    echo = (lambda line: say(name, line)) if labelled else None
    argv = python_m(APPS[name])
    return spawn(name, argv, log_file=log_file, address=APPS[name], env=env, echo=echo)
