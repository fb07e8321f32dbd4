"""devstack.localstripe: localstripe's store stays in memory (no pickle after each write)."""

from __future__ import annotations

from typing import Any

import pytest
from localstripe import resources

from devstack import localstripe


def _no_dump(*_: Any, **__: Any) -> None:
    raise AssertionError("localstripe wrote its store to disk")


def test_writes_to_the_store_no_longer_dump_it_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources.Store, "dump_to_disk", resources.Store.dump_to_disk)
    monkeypatch.setattr(resources, "open", _no_dump, raising=False)  # the fixed /tmp path
    store = resources.Store()
    with pytest.raises(AssertionError):
        store["pi_1"] = "as localstripe ships"

    localstripe.in_memory()
    store["pi_2"] = "kept in memory"
    del store["pi_2"]

    assert "pi_1" in store
