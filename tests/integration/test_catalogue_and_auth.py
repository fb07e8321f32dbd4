"""Accounts, tokens, the catalogue and health, against the real PostgreSQL and Temporal."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from adapters.settings import Settings
from tests.integration.helpers import customer, operator

pytestmark = pytest.mark.integration


async def test_register_refuses_a_taken_email_in_any_case(api: httpx.AsyncClient) -> None:
    body = {"email": "Grace@Example.com", "password": "a long enough password", "name": "G"}
    assert (await api.post("/v1/auth/register", json=body)).status_code == 201

    again = await api.post("/v1/auth/register", json={**body, "email": "grace@example.COM"})

    assert again.status_code == 409
    assert again.json()["type"] == "/problems/email-taken"
    assert "password_hash" not in again.text


async def test_short_password_is_refused(api: httpx.AsyncClient) -> None:
    refused = await api.post(
        "/v1/auth/register",
        json={"email": "short@example.com", "password": "elevenchars", "name": "S"},
    )
    assert refused.status_code == 422


async def test_wrong_password_is_401(api: httpx.AsyncClient) -> None:
    refused = await api.post(
        "/v1/auth/token", json={"email": "operator@example.com", "password": "not the password"}
    )
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/invalid-credentials"


@pytest.mark.parametrize("case", ["none-alg", "wrong-key", "expired", "no-audience"])
async def test_forged_or_stale_tokens_are_401(
    api: httpx.AsyncClient,
    settings: Settings,
    case: str,
) -> None:
    now = int(time.time())
    claims = {
        "sub": "usr_x",
        "role": "operator",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": now + 60,
    }
    key = settings.jwt_secret.get_secret_value()
    if case == "none-alg":
        token = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    elif case == "wrong-key":
        token = jwt.encode(claims, "another secret of enough length!!", algorithm="HS256")
    elif case == "expired":
        token = jwt.encode({**claims, "exp": now - 10}, key, algorithm="HS256")
    else:
        token = jwt.encode({k: v for k, v in claims.items() if k != "aud"}, key, algorithm="HS256")

    answer = await api.get("/v1/orders", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401


async def test_products_are_listed_in_pages_and_searchable(api: httpx.AsyncClient) -> None:
    first = (await api.get("/v1/products?limit=3")).json()
    second = (await api.get(f"/v1/products?limit=3&cursor={first['next_cursor']}")).json()
    skus = [p["sku"] for p in first["items"] + second["items"]]
    assert len(skus) == len(set(skus)) == 6
    assert skus == sorted(skus)

    found = (await api.get("/v1/products?q=hoodie")).json()["items"]
    assert [p["sku"] for p in found] == ["HOODIE-GREY-M"]
    assert found[0]["price"] == {"amount": 5900, "currency": "EUR"}

    assert (await api.get("/v1/products/MUG-LOGO")).json()["name"] == "Logo mug"
    missing = await api.get("/v1/products/NOPE")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_only_operators_create_products(api: httpx.AsyncClient) -> None:
    body = {
        "sku": "POSTER-A2",
        "name": "Poster",
        "price": {"amount": 900, "currency": "EUR"},
        "stock": 10,
    }
    assert (await api.post("/v1/products", json=body)).status_code == 401
    assert (
        await api.post("/v1/products", json=body, headers=await customer(api))
    ).status_code == 403
    op = await operator(api)
    assert (await api.post("/v1/products", json=body, headers=op)).status_code == 201
    again = await api.post("/v1/products", json=body, headers=op)
    assert again.status_code == 409


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "temporal": "ok"}
