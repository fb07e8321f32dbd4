"""`make run` stops everything even when its signal arrives twice (Ctrl-C, then make)."""

from __future__ import annotations

import signal

import pytest

from devstack import stack


def test_only_the_first_signal_interrupts_and_later_ones_leave_the_stop_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack._stopping.clear()

    with pytest.raises(stack.Interrupted):
        stack._interrupt(signal.SIGINT, None)
    stack._interrupt(signal.SIGTERM, None)  # would have aborted the clean-up

    assert "already stopping" in capsys.readouterr().out
