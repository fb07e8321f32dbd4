"""`make bench`'s CPU accounting (bench/cpu.py): a part counts its descendants' CPU, but not
that of a descendant which is a part of its own."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from bench.cpu import cpu_seconds, spent_between
from bench.load import Result
from bench.run import cpu_per_order

CHILD = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass\n"
PARENT = (
    "import subprocess, sys, time\n"
    f"subprocess.Popen([sys.executable, '-c', {CHILD!r} + 'time.sleep(30)'])\n"
    "time.sleep(30)\n"
)
PATIENCE = 15.0


@contextmanager
def parent_of_a_spinning_child() -> Iterator[tuple[int, int]]:
    """A parent that idles while its child spins 1 s of CPU: (parent pid, child pid)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        deadline = time.monotonic() + PATIENCE
        while not (children := psutil.Process(parent.pid).children()):
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        yield parent.pid, children[0].pid
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()


def spent_until(pids: dict[str, int], part: str, seconds: float) -> dict[str, float]:
    """CPU each part spent from now until `part` has spent `seconds` (or PATIENCE ran out)."""
    before, deadline = cpu_seconds(pids), time.monotonic() + PATIENCE
    spent = dict.fromkeys(pids, 0.0)
    while spent[part] < seconds and time.monotonic() < deadline:
        time.sleep(0.2)
        spent = spent_between(before, cpu_seconds(pids))
    return spent


def test_a_part_counts_the_cpu_of_its_live_children() -> None:
    assert "gone" not in cpu_seconds({"gone": 2**22 + 7})  # no such process: left out
    with parent_of_a_spinning_child() as (parent, _):
        spent = spent_until({"parent": parent}, "parent", 0.25)
    assert spent["parent"] >= 0.25, spent


def test_a_child_that_is_a_part_of_its_own_is_not_counted_twice() -> None:
    with parent_of_a_spinning_child() as (parent, child):
        spent = spent_until({"parent": parent, "child": child}, "child", 0.25)
    assert spent["child"] >= 0.25, spent
    assert spent["parent"] < 0.1, spent  # the child's CPU is the child's alone


def test_the_report_gives_cpu_per_order_with_the_total_first() -> None:
    result = Result(orders=10, wall=1.0, cpu={"temporal": 2.0, "api": 0.5, "idle": 0.001})
    assert cpu_per_order(result) == "total 250: temporal 200, api 50"
