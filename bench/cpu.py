"""CPU seconds per part of the bench's stack, so a run says where each side's time went.

Wall-clock rates move with whatever else the shared machine runs; the CPU each process spent
per order moves much less, so it shows what a change saved (docs/performance.md). A part is
its process and every live descendant that is not a part of its own (PostgreSQL's backends
belong to PostgreSQL, the workers do not belong to the driver that started them); a
descendant that exited during the phase takes its CPU with it, which none of the long-lived
parts do.
"""

from __future__ import annotations

from collections.abc import Mapping

import psutil


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """User and system CPU seconds so far of each part (name -> its process id): the process
    and its descendants, leaving out any descendant that is a part of its own (the driver
    started every other part)."""
    roots = set(pids.values())
    spent: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            tree = _tree(psutil.Process(pid), roots)
        except psutil.NoSuchProcess:
            continue
        total = 0.0
        for process in tree:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        spent[name] = total
    return spent


def _tree(root: psutil.Process, others: set[int]) -> list[psutil.Process]:
    """`root` and its descendants, not descending into the processes in `others`."""
    found, pending = [root], [root]
    while pending:
        try:
            children = pending.pop().children()
        except psutil.NoSuchProcess:
            continue
        mine = [child for child in children if child.pid not in others]
        found += mine
        pending += mine
    return found


def spent_between(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """Each part's CPU seconds from `before` to `after` (parts in both)."""
    return {name: after[name] - before[name] for name in after if name in before}
