"""The bench's rounds: every order is driven once per side, and the sides take turns first."""

from __future__ import annotations

from bench.run import schedule


def test_two_rounds_split_the_orders_and_swap_which_side_goes_first() -> None:
    assert schedule(500, 2) == [(250, ("baseline", "engine")), (250, ("engine", "baseline"))]


def test_an_uneven_split_still_drives_every_order() -> None:
    rounds = schedule(7, 3)

    assert sum(count for count, _ in rounds) == 7
    assert [turns[0] for _, turns in rounds] == ["baseline", "engine", "baseline"]
