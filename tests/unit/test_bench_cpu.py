"""`make bench`'s CPU accounting (bench/cpu.py): a part counts its descendants' CPU too."""

from __future__ import annotations

import subprocess
import sys
import time

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


def test_a_part_counts_the_cpu_of_its_live_children() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT])  # idles while its child spins
    try:
        before = cpu_seconds({"parent": parent.pid, "gone": 2**22 + 7})
        assert "gone" not in before  # no such process: left out
        deadline = time.monotonic() + 15
        spent = {"parent": 0.0}
        while spent["parent"] < 0.25 and time.monotonic() < deadline:
            time.sleep(0.2)  # the child spins 1 s of CPU once it has started
            spent = spent_between(before, cpu_seconds({"parent": parent.pid}))
        assert spent["parent"] >= 0.25, spent
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()


def test_a_child_that_is_a_part_of_its_own_is_not_counted_twice() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        deadline = time.monotonic() + 15
        while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = psutil.Process(parent.pid).children()
        before = cpu_seconds({"parent": parent.pid, "child": child.pid})
        spent = {"parent": 0.0, "child": 0.0}
        while spent["child"] < 0.25 and time.monotonic() < deadline:
            time.sleep(0.2)
            after = cpu_seconds({"parent": parent.pid, "child": child.pid})
            spent = spent_between(before, after)
        assert spent["child"] >= 0.25, spent
        assert spent["parent"] < 0.1, spent  # the child's CPU is the child's alone
    finally:
        for each in psutil.Process(parent.pid).children(recursive=True):
            each.kill()
        parent.kill()
        parent.wait()


def test_the_report_gives_cpu_per_order_with_the_total_first() -> None:
    result = Result(orders=10, wall=1.0, cpu={"temporal": 2.0, "api": 0.5, "idle": 0.001})
    assert cpu_per_order(result) == "total 250: temporal 200, api 50"
