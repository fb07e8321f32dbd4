"""Which text may be stored: the rule the API and the order workflow share."""

from __future__ import annotations

import pytest

from domain.text import unstorable


@pytest.mark.parametrize("text", ["Ada Lovelace", "Zoë, 1 Rue Él", "東京都", "✓ ok", ""])
def test_ordinary_text_may_be_stored(text: str) -> None:
    assert unstorable(text) is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("A\x00", "U+0000"),
        ("a\x1bb", "U+001B"),
        ("x\x7f", "U+007F"),
        ("x\x85", "U+0085"),
        ("x\ud800", "U+D800"),
        ("two\nlines", "U+000A"),
        ("tab\there", "U+0009"),
    ],
)
def test_control_characters_and_lone_surrogates_are_named(text: str, found: str) -> None:
    assert unstorable(text) == found


def test_multi_line_text_may_hold_line_breaks_and_tabs_but_not_nul() -> None:
    assert unstorable("first\r\nsecond\tthird", multiline=True) is None
    assert unstorable("first\n\x00", multiline=True) == "U+0000"
