"""Tokens: the OAuth2 password form beside JSON, RS256 with a configured key pair, the
algorithm pinned either way, and `WWW-Authenticate` on every 401."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from adapters.settings import Settings
from api.main import create_app
from tests.integration.apps import app_client
from tests.integration.helpers import customer

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


async def _register(api: httpx.AsyncClient) -> str:
    email = f"auth-{uuid.uuid4().hex[:10]}@example.com"
    answer = await api.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert answer.status_code == 201, answer.text
    assert set(answer.json()) == {"id", "email", "name", "phone", "role"}
    return email


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_the_oauth2_password_form_gives_a_working_token(api: httpx.AsyncClient) -> None:
    email = await _register(api)

    answer = await api.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD, "scope": ""},
    )

    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["token_type"] == "bearer"
    mine = await api.get("/v1/orders", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert mine.status_code == 200


async def test_the_form_refuses_a_wrong_password_and_unknown_fields(
    api: httpx.AsyncClient,
) -> None:
    email = await _register(api)

    wrong = await api.post("/v1/auth/token", data={"username": email, "password": "nope" * 4})
    extra = await api.post(
        "/v1/auth/token", data={"username": email, "password": PASSWORD, "role": "operator"}
    )
    missing = await api.post("/v1/auth/token", data={"username": email})

    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert wrong.json()["type"] == "/problems/invalid-credentials"
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["loc"] == ["body", "role"]
    assert missing.status_code == 422


async def test_json_login_refuses_unknown_fields_and_bad_json(api: httpx.AsyncClient) -> None:
    email = await _register(api)

    extra = await api.post(
        "/v1/auth/token", json={"email": email, "password": PASSWORD, "role": "operator"}
    )
    broken = await api.post(
        "/v1/auth/token", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert extra.status_code == 422
    assert broken.status_code == 422
    assert broken.json()["type"] == "/problems/malformed-json"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer a.b.c"]
)
async def test_every_401_names_the_bearer_scheme(
    api: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    answer = await api.get("/v1/orders", headers=headers)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/unauthorized"


async def test_a_token_without_a_subject_is_401(api: httpx.AsyncClient, settings: Settings) -> None:
    claims = {
        "role": "customer",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": int(time.time()) + 60,
    }
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")

    answer = await api.get("/v1/orders", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


async def test_rs256_signs_with_the_private_key_and_pins_the_algorithm(
    settings: Settings, tmp_path: Path
) -> None:
    private, public = _key_pair()
    (tmp_path / "public.pem").write_text(public)
    rs256 = {
        "jwt_algorithm": "RS256",
        "jwt_private_key": SecretStr(private),
        "jwt_public_key": str(tmp_path / "public.pem"),
    }
    async with app_client(settings, **rs256) as api:
        email = await _register(api)
        token = (
            await api.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        ).json()["access_token"]
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        assert jwt.decode(token, public, algorithms=["RS256"], audience=settings.jwt_audience)

        claims = jwt.decode(token, options={"verify_signature": False})
        other_private, _ = _key_pair()
        forged = {
            "hs256 with the shared secret": jwt.encode(
                claims, settings.jwt_secret.get_secret_value(), algorithm="HS256"
            ),
            "rs256 with another key": jwt.encode(claims, other_private, algorithm="RS256"),
            "none": jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        }
        assert (
            await api.get("/v1/orders", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        for case, bad in forged.items():
            answer = await api.get("/v1/orders", headers={"Authorization": f"Bearer {bad}"})
            assert answer.status_code == 401, case


def test_rs256_without_a_key_pair_does_not_start(settings: Settings) -> None:
    with pytest.raises(ValueError, match="JWT_PRIVATE_KEY"):
        create_app(settings.model_copy(update={"jwt_algorithm": "RS256"}))


async def test_hs256_tokens_of_this_api_still_work(api: httpx.AsyncClient) -> None:
    headers = await customer(api)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
