"""Text the business can store: no NUL, no other control characters, no lone surrogates.

PostgreSQL refuses NUL in text and JSON, and UTF-8 cannot encode a lone surrogate; the
other control characters (C0, DEL and C1) are refused because no name, address, reason or
tracking number needs them and they corrupt logs, emails and CSV exports. Multi-line text
(reasons, descriptions) may hold line breaks and tabs. The API's free-text type and the
order workflow's command checks both ask this module, so the two cannot disagree.
"""

from __future__ import annotations

import re

_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_CONTROLS_BUT_LINE_BREAKS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_SURROGATES = r"\ud800-\udfff"

SINGLE_LINE = f"^[^{_CONTROLS}]*$"
"""A pattern for storable one-line text (the API's string types use it; a lone surrogate is
refused by the validator before any pattern is checked)."""

MULTI_LINE = f"^[^{_CONTROLS_BUT_LINE_BREAKS}]*$"
"""As `SINGLE_LINE`, but tab, newline and carriage return are allowed."""

_SINGLE_LINE = re.compile(f"[{_CONTROLS}{_SURROGATES}]")
_MULTI_LINE = re.compile(f"[{_CONTROLS_BUT_LINE_BREAKS}{_SURROGATES}]")


def unstorable(text: str, *, multiline: bool = False) -> str | None:
    """The first character that may not be stored, as `U+XXXX`, or None when all may."""
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"
