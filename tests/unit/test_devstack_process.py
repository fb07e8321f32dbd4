"""The tooling's one spawner and one readiness wait, on real child processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from devstack.process import ServiceError, pid_alive, spawn
from devstack.ready import listening, start_ready, wait_ready


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_that_exits_while_awaited_is_named_with_its_log_tail(tmp_path: Path) -> None:
    child = spawn(
        "doomed", python("print('no config found'); raise SystemExit(3)"), log_file=tmp_path / "d"
    )

    with pytest.raises(ServiceError) as failed:
        wait_ready("the doomed API", lambda: False, timeout=30, watch=[child])

    message = str(failed.value)
    assert message.startswith("doomed exited (code 3) while waiting for the doomed API")
    assert message.endswith("no config found")


def test_a_deadline_names_what_did_not_come_up_and_stops_the_child(tmp_path: Path) -> None:
    child = spawn(
        "sleeper",
        python("print('still booting', flush=True); import time; time.sleep(60)"),
        log_file=tmp_path / "s",
    )
    time.sleep(0.5)

    with pytest.raises(ServiceError, match=r"(?s)^sleeper not ready after 1s.*still booting$"):
        start_ready(child, listening("127.0.0.1", 9), timeout=1)

    assert not child.running()


def test_stop_reaches_the_childs_own_children(tmp_path: Path) -> None:
    """A parent that ignores SIGTERM and leaves a grandchild behind: both end within grace."""
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(grandchild.pid))\n"
        "time.sleep(60)\n"
    )
    child = spawn("stubborn", python(code), log_file=tmp_path / "p")

    def written() -> bool:
        return pid_file.exists() and pid_file.read_text() != ""

    wait_ready("the grandchild", written, timeout=30, watch=[child])
    grandchild = int(pid_file.read_text())

    child.stop(grace=1)

    assert child.returncode == -9  # SIGTERM was ignored, so SIGKILL after the grace
    for _ in range(50):
        if not pid_alive(grandchild):
            break
        time.sleep(0.1)
    assert not pid_alive(grandchild)
