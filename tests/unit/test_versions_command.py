"""`python -m workers.versions`' answers that need no Temporal: bad arguments, versioning off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.settings import get_settings
from workers.versions import main


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("percent", ["150", "-1", "ten"])
async def test_a_ramp_outside_0_to_100_is_refused_before_anything_is_asked(
    percent: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        await main(["ramp", "0.2.0", percent])

    assert refused.value.code == 2
    assert "argument percent" in capsys.readouterr().err


async def test_with_versioning_off_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKER_VERSIONING", "false")

    assert await main([]) == 1
    assert "worker versioning is off (WORKER_VERSIONING=false)" in capsys.readouterr().out
