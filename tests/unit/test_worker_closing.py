"""What a worker holds open is closed when it stops: every resource, last opened first,
whatever one of them raises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hypothesis import given
from hypothesis import strategies as st

from workers.runner import close_all


@given(st.lists(st.booleans(), max_size=6))
async def test_every_close_runs_last_opened_first_whichever_fail(fails: list[bool]) -> None:
    closed: list[int] = []

    def closer(n: int, fail: bool) -> Callable[[], Awaitable[None]]:
        async def close() -> None:
            closed.append(n)
            if fail:
                raise OSError(f"resource {n} would not close")

        return close

    await close_all([closer(n, fail) for n, fail in enumerate(fails)])

    assert closed == list(reversed(range(len(fails))))
