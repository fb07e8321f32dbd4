"""The codec endpoint with encryption on: damaged ciphertext is a 400 problem (never a 500),
a payload sealed with an unknown key a 422, and plaintext is shown as it is (the UI reads
histories written before encryption; only the workers refuse plaintext)."""

from __future__ import annotations

import base64
import os

import httpx
import pytest
from pydantic import SecretStr

from adapters.codec import ENCODING, KEY_ID, key_id
from adapters.settings import Settings
from tests.integration.apps import app_client
from tests.integration.helpers import operator

pytestmark = pytest.mark.integration

KEY = os.urandom(32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _sealed(data: bytes, key_id_bytes: bytes = key_id(KEY).encode()) -> dict[str, object]:
    metadata = {"encoding": _b64(ENCODING), KEY_ID: _b64(key_id_bytes)}
    return {"payloads": [{"metadata": metadata, "data": _b64(data)}]}


async def _decode(settings: Settings, body: dict[str, object]) -> httpx.Response:
    keyed = {"payload_encryption_key": SecretStr(_b64(KEY))}
    async with app_client(settings, **keyed) as api:
        return await api.post("/codec/decode", json=body, headers=await operator(api))


@pytest.mark.parametrize(
    "body",
    [
        _sealed(b""),
        _sealed(os.urandom(20)),
        _sealed(os.urandom(40), key_id_bytes=b"\xff\xfe\xfd"),
    ],
    ids=["empty", "shorter-than-nonce-and-tag", "key-id-not-utf8"],
)
async def test_damaged_ciphertext_is_a_400_problem(
    settings: Settings, body: dict[str, object]
) -> None:
    answer = await _decode(settings, body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/malformed-payload"


async def test_a_payload_of_an_unknown_key_is_a_422_problem(settings: Settings) -> None:
    answer = await _decode(settings, _sealed(os.urandom(40), key_id_bytes=b"deadbeef"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "/problems/undecodable-payload"


async def test_plaintext_is_shown_as_it_is(settings: Settings) -> None:
    plain = {"payloads": [{"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'"x"')}]}
    answer = await _decode(settings, plain)
    assert answer.status_code == 200, answer.text
    assert answer.json() == plain
