"""`.env.example` is the list of settings people read: it must name every one, and parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_env_example_names_every_setting() -> None:
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(), re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - named == set()
    assert named - fields == set()


def test_env_example_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            monkeypatch.setenv(key, value.split("  #")[0].strip())

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.fulfillment_timeout.days == 6
    assert settings.mail_from == "Commerce Engine <orders@example.com>"
