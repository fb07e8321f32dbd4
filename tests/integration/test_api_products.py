"""The catalogue through the HTTP API: editing, stock adjustments that never uncover a
reservation, search that takes `%` and `_` literally, and keyset pages."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.helpers import customer, operator, order_body, wait_for_status

pytestmark = pytest.mark.integration


async def _product(api: httpx.AsyncClient, op: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {
        "sku": f"TEST-{uuid.uuid4().hex[:10].upper()}",
        "name": "Test product",
        "price": {"amount": 900, "currency": "EUR"},
        "stock": 5,
        **fields,
    }
    created = await api.post("/v1/products", json=body, headers=op)
    assert created.status_code == 201, created.text
    product: dict[str, Any] = created.json()
    return product


async def test_operator_changes_name_description_and_price(api: httpx.AsyncClient) -> None:
    op = await operator(api)
    sku = (await _product(api, op))["sku"]

    renamed = await api.patch(f"/v1/products/{sku}", json={"name": "Renamed"}, headers=op)
    repriced = await api.patch(
        f"/v1/products/{sku}",
        json={"description": "Now cheaper", "price": {"amount": 700, "currency": "EUR"}},
        headers=op,
    )

    assert renamed.status_code == 200, renamed.text
    assert repriced.json() == {
        "sku": sku,
        "name": "Renamed",
        "description": "Now cheaper",
        "price": {"amount": 700, "currency": "EUR"},
        "available": 5,
    }
    assert (await api.get(f"/v1/products/{sku}")).json() == repriced.json()


async def test_only_operators_edit_products_and_stock(api: httpx.AsyncClient) -> None:
    op, buyer = await operator(api), await customer(api)
    sku = (await _product(api, op))["sku"]

    for headers, status in (({}, 401), (buyer, 403)):
        edit = await api.patch(f"/v1/products/{sku}", json={"name": "x"}, headers=headers)
        stock = await api.post(f"/v1/products/{sku}/stock", json={"delta": 1}, headers=headers)
        assert (edit.status_code, stock.status_code) == (status, status)
        assert edit.headers["content-type"] == "application/problem+json"
    assert (await api.get(f"/v1/products/{sku}")).json()["name"] == "Test product"


async def test_editing_refuses_unknown_fields_and_unknown_skus(api: httpx.AsyncClient) -> None:
    op = await operator(api)
    sku = (await _product(api, op))["sku"]

    sneaky = await api.patch(f"/v1/products/{sku}", json={"reserved": 0}, headers=op)
    missing = await api.patch("/v1/products/NO-SUCH-SKU", json={"name": "x"}, headers=op)
    no_stock = await api.post("/v1/products/NO-SUCH-SKU/stock", json={"delta": 1}, headers=op)

    assert sneaky.status_code == 422
    assert sneaky.json()["errors"][0]["loc"] == ["body", "reserved"]
    assert (missing.status_code, no_stock.status_code) == (404, 404)


async def test_stock_adjustment_answers_the_new_on_hand(api: httpx.AsyncClient) -> None:
    op = await operator(api)
    sku = (await _product(api, op, stock=5))["sku"]

    added = await api.post(f"/v1/products/{sku}/stock", json={"delta": 10}, headers=op)
    removed = await api.post(f"/v1/products/{sku}/stock", json={"delta": -4}, headers=op)

    assert added.json() == {"sku": sku, "on_hand": 15, "reserved": 0, "available": 15}
    assert removed.json()["on_hand"] == 11
    assert (await api.get(f"/v1/products/{sku}")).json()["available"] == 11


async def test_stock_never_drops_below_what_orders_reserved(api: httpx.AsyncClient) -> None:
    op, buyer = await operator(api), await customer(api)
    sku = (await _product(api, op, stock=5))["sku"]
    placed = await api.post("/v1/orders", json=order_body({sku: 3}), headers=buyer)
    assert placed.status_code == 201, placed.text
    await wait_for_status(api, buyer, placed.json()["id"], "confirmed")

    refused = await api.post(f"/v1/products/{sku}/stock", json={"delta": -3}, headers=op)
    allowed = await api.post(f"/v1/products/{sku}/stock", json={"delta": -2}, headers=op)

    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/stock-below-reserved"
    assert allowed.json() == {"sku": sku, "on_hand": 3, "reserved": 3, "available": 0}


async def test_search_takes_like_wildcards_literally(api: httpx.AsyncClient) -> None:
    op = await operator(api)
    marker = uuid.uuid4().hex[:8]
    percent = await _product(api, op, name=f"100% cotton {marker}")
    underscore = await _product(api, op, name=f"snake_case {marker}")

    def skus(answer: httpx.Response) -> list[str]:
        return [p["sku"] for p in answer.json()["items"]]

    assert skus(await api.get("/v1/products", params={"q": f"0% cotton {marker}"})) == [
        percent["sku"]
    ]
    assert skus(await api.get("/v1/products", params={"q": f"e_case {marker}"})) == [
        underscore["sku"]
    ]
    assert percent["sku"] in skus(await api.get("/v1/products", params={"q": "%", "limit": 100}))
    assert skus(await api.get("/v1/products", params={"q": f"%{marker}"})) == []
    assert skus(await api.get("/v1/products", params={"q": f"snake%{marker}"})) == []


async def test_pages_stay_stable_when_products_are_added_between_them(
    api: httpx.AsyncClient,
) -> None:
    op = await operator(api)
    first = (await api.get("/v1/products", params={"limit": 2})).json()
    await _product(api, op, sku=f"0000-{uuid.uuid4().hex[:8].upper()}")  # sorts first
    second = (
        await api.get("/v1/products", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    seen = [p["sku"] for p in first["items"] + second["items"]]
    assert len(set(seen)) == 4
    assert seen == sorted(seen)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
async def test_limit_outside_1_to_100_is_a_422_problem(api: httpx.AsyncClient, limit: str) -> None:
    answer = await api.get("/v1/products", params={"limit": limit})

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize(
    "cursor", ["garbage", "", "eyJza3UiOiJaIn0", "%%%", "A" * 40, "x" * 600, "é"]
)
async def test_tampered_cursor_is_a_422_problem(api: httpx.AsyncClient, cursor: str) -> None:
    genuine = (await api.get("/v1/products", params={"limit": 1})).json()["next_cursor"]
    for bad in (cursor, genuine[:-3] + "AAA", genuine + "A"):
        answer = await api.get("/v1/products", params={"cursor": bad})
        if bad == "":
            assert answer.status_code == 200  # no cursor: the first page
            continue
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["type"] in ("/problems/invalid-cursor", "/problems/validation-error")


async def test_text_postgres_cannot_store_is_a_422_not_a_500(api: httpx.AsyncClient) -> None:
    op = await operator(api)
    search = await api.get("/v1/products", params={"q": "nul\x00byte"})
    created = await api.post(
        "/v1/products",
        json={
            "sku": "NUL-1",
            "name": "nul\x00",
            "price": {"amount": 1, "currency": "EUR"},
            "stock": 1,
        },
        headers=op,
    )
    path = await api.get("/v1/products/a%00b")

    assert (search.status_code, created.status_code, path.status_code) == (422, 422, 422)
