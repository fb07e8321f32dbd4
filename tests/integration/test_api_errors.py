"""Every error is a problem document; bodies are capped at 1 MiB even when chunked; security
headers and CORS come from the settings; the OpenAPI document describes every problem."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from adapters.settings import Settings
from devstack.process import free_port
from tests.integration.apps import Relay, app_client
from tests.integration.helpers import customer, operator, order_body

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def assert_problem(answer: httpx.Response, status: int, slug: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]


async def test_an_unknown_route_is_a_404_problem(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/nothing-here"), 404, "not-found")


async def test_a_wrong_method_is_a_405_problem_with_allow(api: httpx.AsyncClient) -> None:
    answer = await api.delete("/v1/products")

    assert_problem(answer, 405, "method-not-allowed")
    assert "GET" in answer.headers["Allow"]


async def test_a_body_over_1_mib_is_a_413_problem(api: httpx.AsyncClient) -> None:
    body = b'{"email": "' + b"a" * MIB + b'"}'

    answer = await api.post(
        "/v1/auth/register", content=body, headers={"Content-Type": "application/json"}
    )

    assert_problem(answer, 413, "payload-too-large")


async def test_a_chunked_body_is_stopped_at_1_mib(api: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"email": "'
        for _ in range(64):  # 4 MiB in all, if it were read to the end
            sent += 1
            yield b"a" * (64 * 1024)

    request = api.build_request(
        "POST",
        "/v1/auth/token",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    answer = await api.send(request)

    assert_problem(answer, 413, "payload-too-large")
    assert sent <= 17  # stopped just past 1 MiB


async def test_a_form_over_1_mib_is_a_413_problem(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/v1/auth/token", data={"username": "a@example.com", "password": "p" * (2 * MIB)}
    )
    assert_problem(answer, 413, "payload-too-large")


async def test_unknown_fields_are_refused_not_assigned(api: httpx.AsyncClient) -> None:
    op, buyer = await operator(api), await customer(api)
    register = await api.post(
        "/v1/auth/register",
        json={
            "email": "mass@example.com",
            "password": "a long enough password",
            "name": "M",
            "role": "operator",
        },
    )
    product = await api.post(
        "/v1/products",
        json={
            "sku": "MASS-1",
            "name": "M",
            "price": {"amount": 1, "currency": "EUR"},
            "stock": 1,
            "reserved": 5,
        },
        headers=op,
    )
    order = await api.post(
        "/v1/orders", json={**order_body({"MUG-LOGO": 1}), "total": 1}, headers=buyer
    )

    for answer, field in ((register, "role"), (product, "reserved"), (order, "total")):
        assert_problem(answer, 422, "validation-error")
        assert ["body", field] in [e["loc"] for e in answer.json()["errors"]]


async def test_security_headers_are_on_every_answer(api: httpx.AsyncClient) -> None:
    for answer in (await api.get("/v1/products"), await api.get("/v1/nothing-here")):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_the_docs_pages_may_load_swagger_ui_from_its_cdn(api: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await api.get(path)
        assert page.status_code == 200
        csp = page.headers["Content-Security-Policy"]
        assert "https://cdn.jsdelivr.net" in csp
        assert "frame-ancestors 'none'" in csp
    assert "oauth2-redirect" in (await api.get("/docs")).text


async def test_cors_allows_only_the_configured_origins(settings: Settings) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    async with app_client(
        settings,
        cors_origins=["https://shop.example"],
        content_security_policy="default-src 'self'",
    ) as api:
        allowed = await api.options(
            "/v1/auth/token", headers={**preflight, "Origin": "https://shop.example"}
        )
        refused = await api.options(
            "/v1/auth/token", headers={**preflight, "Origin": "https://evil.example"}
        )
        simple = await api.get("/v1/products", headers={"Origin": "https://shop.example"})

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert_problem(refused, 400, "cors-refused")
    assert simple.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert simple.headers["Content-Security-Policy"] == "default-src 'self'"


async def test_without_cors_origins_no_origin_is_allowed(api: httpx.AsyncClient) -> None:
    answer = await api.get("/v1/products", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in answer.headers


async def test_the_openapi_document_describes_problems_and_examples(
    api: httpx.AsyncClient,
) -> None:
    doc = (await api.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]

    for path, operations in doc["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert "500" in operation["responses"], where
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], where
            if "security" in operation:
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], where
            if path.startswith(("/v1/products", "/v1/auth")):
                for media in operation.get("requestBody", {}).get("content", {}).values():
                    name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                    assert schemas[name].get("examples"), f"{where}: {name} has no example"
                ok = next(r for s, r in operation["responses"].items() if s.startswith("2"))
                ref = str(ok["content"]["application/json"]["schema"].get("$ref", ""))
                name = ref.rsplit("/", 1)[-1]
                if name and not name.startswith("Page"):
                    assert schemas[name].get("examples"), f"{where}: {name} has no example"
    assert "429" in doc["paths"]["/v1/auth/token"]["post"]["responses"]
    assert "Retry-After" in doc["paths"]["/v1/auth/token"]["post"]["responses"]["429"]["headers"]
    assert "403" in doc["paths"]["/v1/products"]["post"]["responses"]
    assert (
        doc["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"][
            "tokenUrl"
        ]
        == "/v1/auth/token"
    )


async def test_a_database_that_does_not_answer_is_a_503_problem_with_retry_after(
    settings: Settings,
) -> None:
    dead = "postgresql+asyncpg://postgres@127.0.0.1:9/nothing"  # the discard port: refused
    async with app_client(settings, database_url=dead) as http:
        answer = await http.get("/v1/products")

    assert_problem(answer, 503, "unavailable")
    assert answer.headers["Retry-After"] == "5"


async def test_the_api_starts_while_temporal_is_away_and_places_once_it_answers(
    settings: Settings, workers: None
) -> None:
    host, port = settings.temporal_address.rsplit(":", 1)
    away = free_port()  # nothing listens there until "Temporal" comes back
    async with app_client(settings, temporal_address=f"127.0.0.1:{away}") as http:
        headers = await customer(http)  # PostgreSQL only: works meanwhile
        listed = await http.get("/v1/products")
        not_ready = await http.get("/readyz")
        refused = await http.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers=headers)
        back = Relay((host, int(port)))
        await back.start(away)
        try:
            placed = await http.post(
                "/v1/orders", json=order_body({"MUG-LOGO": 1}), headers=headers
            )
            ready = await http.get("/readyz")
        finally:
            back.close()

    assert listed.status_code == 200
    assert_problem(not_ready, 503, "unavailable")
    assert not_ready.json()["checks"]["temporal"].startswith("down")
    assert_problem(refused, 503, "unavailable")
    assert refused.headers["Retry-After"] == "5"
    assert placed.status_code == 201, placed.text
    assert ready.status_code == 200, ready.text


async def test_a_statement_that_fails_on_a_live_connection_stays_a_500(
    settings: Settings,
) -> None:
    """Only lost connections are the database's absence; a failing statement is our bug."""

    def broken(app: FastAPI) -> None:
        @app.get("/v1/broken")
        async def _broken() -> None:
            async with app.state.engine.connect() as conn:
                await conn.execute(text("select * from no_such_table"))

    async with app_client(settings, extend=broken) as http:
        answer = await http.get("/v1/broken")

    assert_problem(answer, 500, "internal-error")


async def test_an_unexpected_exception_in_a_route_is_a_500_problem_not_a_hang(
    settings: Settings,
) -> None:
    def broken(app: FastAPI) -> None:
        @app.get("/v1/broken")
        async def _broken() -> None:
            raise RuntimeError("a bug")

    async with app_client(settings, extend=broken) as http:
        answer = await asyncio.wait_for(http.get("/v1/broken"), timeout=5)

    assert_problem(answer, 500, "internal-error")
    assert "a bug" not in answer.text
