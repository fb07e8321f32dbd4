"""The Temporal UI's way into the codec beyond `make run`: an operator signs in once at
`/codec/login`, and the UI's codec calls (with "include cross-origin credentials" on) carry
the cookie that answer set. On the real servers, over the app's own middleware (CORS)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.settings import Settings
from tests.integration.apps import app_client, random_ip
from tests.integration.conftest import OPERATOR_PASSWORD

pytestmark = pytest.mark.integration

UI = "https://temporal.example.com"
OPERATOR = {"username": "operator@example.com", "password": OPERATOR_PASSWORD}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


PAYLOADS = {"payloads": [{"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'"x"')}]}


@pytest.fixture
async def codec_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed: the UI on its own origin, HTTPS, no loopback trust."""
    async with app_client(
        settings,
        client=random_ip(),
        temporal_ui_url=UI,
        public_url="https://shop.example.com",
        codec_trust_ui_origin=False,
    ) as http:
        yield http


async def _session_cookie(api: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
    answer = await api.post("/codec/login", data=form)
    api.cookies.clear()  # each test below sends the cookie, or not, by hand
    return answer


async def test_operator_signs_in_once_and_the_ui_decodes_with_the_cookie(
    codec_api: httpx.AsyncClient,
) -> None:
    page = await codec_api.get("/codec/login")
    assert page.status_code == 200
    assert 'action="/codec/login"' in page.text
    signed_in = await _session_cookie(codec_api, OPERATOR)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == UI
    cookie = signed_in.headers["set-cookie"]
    for attribute in ("httponly", "secure", "samesite=strict", "path=/codec"):
        assert attribute in cookie.lower(), cookie
    value = signed_in.cookies["codec_session"]

    from_ui = {"Origin": UI, "X-Namespace": "default"}
    decoded = await codec_api.post(
        "/codec/decode", json=PAYLOADS, headers={**from_ui, "Cookie": f"codec_session={value}"}
    )
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == PAYLOADS
    assert decoded.headers["access-control-allow-origin"] == UI
    assert decoded.headers["access-control-allow-credentials"] == "true"
    without = await codec_api.post("/codec/decode", json=PAYLOADS, headers=from_ui)
    assert without.status_code == 401


async def test_a_customer_or_a_wrong_password_gets_no_codec_cookie(
    codec_api: httpx.AsyncClient,
) -> None:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    registered = await codec_api.post(
        "/v1/auth/register", json={"email": email, "password": password, "name": "Ada"}
    )
    assert registered.status_code == 201, registered.text
    refused = await _session_cookie(codec_api, {"username": email, "password": password})
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers
    wrong = await _session_cookie(codec_api, {**OPERATOR, "password": "not the password!"})
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers


async def test_a_forged_session_cookie_is_refused(codec_api: httpx.AsyncClient) -> None:
    forged = await codec_api.post(
        "/codec/decode", json=PAYLOADS, headers={"Origin": UI, "Cookie": "codec_session=forged"}
    )
    assert forged.status_code == 401
