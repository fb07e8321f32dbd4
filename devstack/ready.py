"""The one readiness wait: poll a probe until it says yes, a watched process dies, or time is up.

Probes are plain callables; `listening` (a TCP port) and `answers` (an HTTP URL) cover the
usual ones. The error names what did not come up and shows the tail of the log that says why.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence

import httpx

from devstack.process import Service, ServiceError

Probe = Callable[[], bool]


def is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def listening(host: str, port: int) -> Probe:
    """Ready once something accepts TCP connections on `host:port`."""
    return lambda: is_listening(host, port)


def answers(url: str, *, status: int | None = 200) -> Probe:
    """Ready once `url` answers a GET with `status` (with `None`, any HTTP answer at all)."""

    def probe() -> bool:
        try:
            answer = httpx.get(url, timeout=2.0)
        except httpx.HTTPError:
            return False
        return status is None or answer.status_code == status

    return probe


def wait_ready(
    what: str,
    probe: Probe,
    *,
    timeout: float,
    watch: Sequence[Service] = (),
    log_of: Service | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `probe` until it is true; fail early if a `watch`ed process exits.

    The error names `what` and ends with the tail of the log of the process that exited,
    else of `log_of` (by default the only watched process).
    """
    if log_of is None and len(watch) == 1:
        log_of = watch[0]
    deadline = time.monotonic() + timeout
    while True:
        for service in watch:
            if not service.running():
                raise ServiceError(
                    f"{service.name} exited (code {service.returncode}) while waiting for "
                    f"{what}{service.log_tail()}"
                )
        if probe():
            return
        if time.monotonic() > deadline:
            tail = log_of.log_tail() if log_of is not None else ""
            raise ServiceError(f"{what} not ready after {timeout:.0f}s{tail}")
        time.sleep(interval)


def start_ready(service: Service, probe: Probe, timeout: float) -> Service:
    """Wait for a just-spawned `service`; if it never gets ready, stop it so nothing is left."""
    try:
        wait_ready(service.name, probe, timeout=timeout, watch=[service])
    except BaseException:
        service.stop(grace=5)
        raise
    return service
