"""AES-GCM payload encryption, so Temporal stores no readable customer data.

Each encrypted payload names its key in the metadata (`encryption-key-id`, a short hash of
the key), so a key can be rotated: the current key encrypts, every configured key decrypts.

`decode` refuses payloads that are not encrypted: otherwise anyone who reaches the Temporal
frontend could hand a workflow a plaintext signal or update (a forged `payment_report`) and
the worker would take it. `PAYLOAD_ACCEPT_PLAINTEXT` lets them through while histories
written before encryption was switched on still run (docs/runbook.md, "Payload encryption").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_SIZE = 12
TAG_SIZE = 16


class CodecKeyError(ValueError):
    """A key is malformed, or a payload names a key that is not configured."""


class MalformedPayload(CodecKeyError):
    """An "encrypted" payload that cannot be one: too short, or a key id that is not text."""


class PlaintextRefused(CodecKeyError):
    """An unencrypted payload while encryption is on and plaintext is not accepted."""


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


def parse_key(encoded: str) -> bytes:
    """A base64 key of exactly 32 bytes (AES-256)."""
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise CodecKeyError("an encryption key must be base64") from None
    if len(key) != 32:
        raise CodecKeyError(f"an encryption key must be 32 bytes, not {len(key)}")
    return key


def key_id(key: bytes) -> str:
    """Short, stable and non-secret name of a key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


class EncryptionCodec(PayloadCodec):
    """Encrypts with the current key; decrypts with any known key, found by key id."""

    def __init__(
        self, current: bytes, older: Iterable[bytes] = (), *, accept_plaintext: bool = False
    ) -> None:
        self.accept_plaintext = accept_plaintext
        self._current_id = key_id(current)
        self._current = AESGCM(current)
        self._keys = {key_id(key): AESGCM(key) for key in (*older, current)}

    @property
    def current_key_id(self) -> str:
        return self._current_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._current.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._current_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        if not is_encrypted(payload):
            if self.accept_plaintext:
                return payload
            raise PlaintextRefused(
                "refusing an unencrypted payload (PAYLOAD_ACCEPT_PLAINTEXT lets older "
                "histories through)"
            )
        try:
            wanted = payload.metadata.get(KEY_ID, b"").decode()
        except UnicodeDecodeError:
            raise MalformedPayload("the payload's key id is not UTF-8") from None
        if len(payload.data) < NONCE_SIZE + TAG_SIZE:
            raise MalformedPayload(
                f"an encrypted payload has at least {NONCE_SIZE + TAG_SIZE} bytes, "
                f"not {len(payload.data)}"
            )
        aead = self._keys.get(wanted)
        if aead is None:
            raise CodecKeyError(f"payload encrypted with unknown key {wanted!r}")
        try:
            plain = aead.decrypt(payload.data[:NONCE_SIZE], payload.data[NONCE_SIZE:], None)
        except InvalidTag:
            raise CodecKeyError(f"payload does not authenticate with key {wanted!r}") from None
        return Payload.FromString(plain)


def codec_from_keys(
    current: str | None, older: str | None, *, accept_plaintext: bool = False
) -> EncryptionCodec | None:
    """The codec for `PAYLOAD_ENCRYPTION_KEY` + comma-separated `PAYLOAD_DECRYPTION_KEYS`."""
    if not current:
        return None
    previous = [parse_key(k) for k in (older or "").split(",") if k.strip()]
    return EncryptionCodec(parse_key(current), previous, accept_plaintext=accept_plaintext)
