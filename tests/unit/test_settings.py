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


@pytest.mark.parametrize(
    "address",
    ["Commerce Engine <orders@example.com>", "ops@corp.local", '"night shift"@example.com'],
)
def test_a_mail_address_smtp_can_carry_is_taken(address: str) -> None:
    settings = Settings(_env_file=None, mail_from=address, operator_email=address)  # type: ignore[call-arg]

    assert settings.mail_from == settings.operator_email == address


@pytest.mark.parametrize(
    "address",
    [
        "orders",
        "",
        "order desk@example.com",
        "Shop <orders@example.com>\r\nBcc: all@example.com",
        "orders@example.com\x00",
        "Shop\t<orders@example.com>",
    ],
)
@pytest.mark.parametrize("field", ["mail_from", "operator_email"])
def test_a_mail_address_smtp_cannot_carry_stops_the_settings(address: str, field: str) -> None:
    """Refused when a process starts: otherwise every email (or every disabled endpoint's
    announcement) would fail or retry with it."""
    with pytest.raises(ValueError, match="not an email address an SMTP server accepts"):
        Settings(_env_file=None, **{field: address})  # type: ignore[call-arg]
