"""Opaque, tamper-safe cursors: base64url JSON signed with HMAC-SHA256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from api.errors import Problem


def encode_cursor(secret: bytes, position: dict[str, Any]) -> str:
    body = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


def decode_cursor(secret: bytes, cursor: str) -> dict[str, Any]:
    """The position a cursor stands for; a forged or damaged cursor is a 422."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mac, body = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()[:16]):
            raise ValueError("bad signature")
        position = json.loads(body)
        if not isinstance(position, dict):
            raise ValueError("bad cursor")
        return position
    except (ValueError, json.JSONDecodeError) as error:
        raise Problem(422, "invalid-cursor", "the cursor is not valid") from error
