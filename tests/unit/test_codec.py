"""The payload codec: AES-GCM with the key id in the metadata, several keys for rotation;
plaintext refused on decode unless the migration switch is on; malformed ciphertext is a
`MalformedPayload`, never another exception."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from adapters.codec import (
    ENCODING,
    KEY_ID,
    CodecKeyError,
    EncryptionCodec,
    MalformedPayload,
    PlaintextRefused,
    codec_from_keys,
    key_id,
)
from adapters.settings import Settings
from adapters.temporal import data_converter


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"line1": "1 Main St"}')


async def test_encrypted_payload_round_trips_and_hides_the_data() -> None:
    codec = codec_from_keys(_key(), None)
    assert codec is not None
    [sealed] = await codec.encode([PLAIN])
    assert b"Main St" not in sealed.SerializeToString()
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert sealed.metadata[KEY_ID].decode() == codec.current_key_id
    assert await codec.decode([sealed]) == [PLAIN]


async def test_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec(os.urandom(32))
    first, second = await codec.encode([PLAIN, PLAIN])
    assert first.data != second.data


async def test_rotated_codec_reads_payloads_of_the_old_key_and_writes_with_the_new() -> None:
    old, new = _key(), _key()
    before = codec_from_keys(old, None)
    after = codec_from_keys(new, f" {old} ,")
    assert before is not None and after is not None
    [sealed_old] = await before.encode([PLAIN])
    assert await after.decode([sealed_old]) == [PLAIN]
    [sealed_new] = await after.encode([PLAIN])
    assert sealed_new.metadata[KEY_ID] != sealed_old.metadata[KEY_ID]
    with pytest.raises(CodecKeyError, match="unknown key"):
        await before.decode([sealed_new])


async def test_tampered_payload_is_refused() -> None:
    codec = EncryptionCodec(os.urandom(32))
    [sealed] = await codec.encode([PLAIN])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(CodecKeyError, match="does not authenticate"):
        await codec.decode([sealed])


async def test_plain_payloads_are_refused_on_decode() -> None:
    with pytest.raises(PlaintextRefused, match="PAYLOAD_ACCEPT_PLAINTEXT"):
        await EncryptionCodec(os.urandom(32)).decode([PLAIN])


async def test_the_migration_switch_lets_plain_payloads_through() -> None:
    codec = codec_from_keys(_key(), None, accept_plaintext=True)
    assert codec is not None
    assert await codec.decode([PLAIN]) == [PLAIN]


async def test_workers_refuse_a_plaintext_signal_once_a_key_is_set() -> None:
    """What a client without the key would send: the workers' converter does not take it."""
    [forged] = await data_converter(Settings(_env_file=None)).encode(  # type: ignore[call-arg]
        [{"outcome": "authorized"}]
    )
    workers = data_converter(Settings(_env_file=None, payload_encryption_key=_key()))  # type: ignore[call-arg]
    with pytest.raises(PlaintextRefused):
        await workers.decode([forged], [dict])
    migrating = data_converter(
        Settings(_env_file=None, payload_encryption_key=_key(), payload_accept_plaintext=True)  # type: ignore[call-arg]
    )
    assert await migrating.decode([forged], [dict]) == [{"outcome": "authorized"}]


@pytest.mark.parametrize(
    "metadata, data",
    [
        ({"encoding": ENCODING, KEY_ID: b"\xff\xfe"}, os.urandom(40)),
        ({"encoding": ENCODING}, b""),
        ({"encoding": ENCODING}, os.urandom(27)),
    ],
    ids=["key-id-not-utf8", "empty", "shorter-than-nonce-and-tag"],
)
async def test_malformed_ciphertext_is_a_malformed_payload(
    metadata: dict[str, bytes], data: bytes
) -> None:
    codec = EncryptionCodec(os.urandom(32))
    payload = Payload(
        metadata={**metadata, KEY_ID: metadata.get(KEY_ID, codec.current_key_id.encode())},
        data=data,
    )
    with pytest.raises(MalformedPayload):
        await codec.decode([payload])


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_key_is_refused(bad: str) -> None:
    with pytest.raises(CodecKeyError):
        codec_from_keys(bad, None)


def test_key_id_is_short_and_stable() -> None:
    key = os.urandom(32)
    assert key_id(key) == key_id(key) and len(key_id(key)) == 8


def test_data_converter_encrypts_payloads_and_failures_only_with_a_key() -> None:
    plain = data_converter(Settings(_env_file=None))  # type: ignore[call-arg]
    assert plain.payload_codec is None
    keyed = data_converter(Settings(_env_file=None, payload_encryption_key=_key()))  # type: ignore[call-arg]
    assert isinstance(keyed.payload_codec, EncryptionCodec)
    assert keyed.failure_converter_class is DefaultFailureConverterWithEncodedAttributes


async def test_data_converter_round_trips_pydantic_values() -> None:
    converter = data_converter(Settings(_env_file=None, payload_encryption_key=_key()))  # type: ignore[call-arg]
    [payload] = await converter.encode([{"email": "ada@example.com"}])
    assert b"ada@example.com" not in payload.SerializeToString()
    assert await converter.decode([payload], [dict]) == [{"email": "ada@example.com"}]
