"""Split shipments, edits and returns at the HTTP edge: quantities out of range, missing or
repeated fields and unknown ones are a quick 422 that changes nothing; customers get 403 on
the operator's routes, even for their own order; another customer's order is a 404.

None of these reaches the order's workflow, so they hold whatever the aggregate decides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.helpers import customer
from tests.integration.test_api_bad_input import SHIPMENT, Shop, available, open_shop, timed
from tests.integration.test_api_errors import assert_problem

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def shop(api: httpx.AsyncClient) -> AsyncIterator[Shop]:
    """A customer, the operator, a product of its own and one confirmed order of it."""
    yield await open_shop(api)


def units(sku: str, quantity: Any) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity}]


def bodies(sku: str) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """A valid request of each command: the path under the order and its body."""
    return {
        "ship": ("shipments", {**SHIPMENT, "lines": units(sku, 1)}),
        "deliver": ("delivery", None),
        "deliver-one": ("shipments/S-1/delivery", None),
        "edit": ("edits", {"lines": units(sku, 0)}),
        "return": ("returns", {"lines": units(sku, 1), "reason": "too small"}),
        "receive": ("returns/R-1/receive", {"restock": False}),
        "reject-return": ("returns/R-1/reject", {"reason": "the parcel was empty"}),
    }


INVALID: dict[str, tuple[str, Any]] = {
    # a command, and how its valid body is spoiled (a function of the body and the sku)
    "ship-no-units": ("ship", lambda b, s: {**b, "lines": units(s, 0)}),
    "ship-too-many": ("ship", lambda b, s: {**b, "lines": units(s, 101)}),
    "ship-negative": ("ship", lambda b, s: {**b, "lines": units(s, -1)}),
    "ship-empty-lines": ("ship", lambda b, s: {**b, "lines": []}),
    "ship-one-sku-twice": ("ship", lambda b, s: {**b, "lines": units(s, 1) * 2}),
    "ship-no-sku": ("ship", lambda b, s: {**b, "lines": [{"quantity": 1}]}),
    "ship-no-quantity": ("ship", lambda b, s: {**b, "lines": [{"sku": s}]}),
    "ship-unknown-line-field": (
        "ship",
        lambda b, s: {**b, "lines": [{"sku": s, "quantity": 1, "price": 1}]},
    ),
    "ship-lines-not-a-list": ("ship", lambda b, s: {**b, "lines": {"sku": s}}),
    "edit-negative": ("edit", lambda b, s: {"lines": units(s, -1)}),
    "edit-too-many": ("edit", lambda b, s: {"lines": units(s, 101)}),
    "edit-empty-lines": ("edit", lambda b, s: {"lines": []}),
    "edit-no-lines": ("edit", lambda b, s: {}),
    "edit-null-lines": ("edit", lambda b, s: {"lines": None}),
    "edit-one-sku-twice": ("edit", lambda b, s: {"lines": units(s, 0) + units(s, 1)}),
    "edit-unknown-field": ("edit", lambda b, s: {**b, "reason": "x", "total": 0}),
    "return-no-units": ("return", lambda b, s: {**b, "lines": units(s, 0)}),
    "return-too-many": ("return", lambda b, s: {**b, "lines": units(s, 101)}),
    "return-empty-lines": ("return", lambda b, s: {**b, "lines": []}),
    "return-no-lines": ("return", lambda b, s: {"reason": b["reason"]}),
    "return-no-reason": ("return", lambda b, s: {"lines": b["lines"]}),
    "return-blank-reason": ("return", lambda b, s: {**b, "reason": "   "}),
    "return-long-reason": ("return", lambda b, s: {**b, "reason": "x" * 501}),
    "return-one-sku-twice": ("return", lambda b, s: {**b, "lines": units(s, 1) * 2}),
    "return-unknown-field": ("return", lambda b, s: {**b, "refund": 100}),
    "receive-restock-a-string": ("receive", lambda b, s: {"restock": "no"}),
    "receive-restock-a-number": ("receive", lambda b, s: {"restock": 0}),
    "receive-restock-null": ("receive", lambda b, s: {"restock": None}),
    "receive-unknown-field": ("receive", lambda b, s: {"refund": 0}),
    "reject-return-no-reason": ("reject-return", lambda b, s: {}),
    "reject-return-blank-reason": ("reject-return", lambda b, s: {"reason": ""}),
    "reject-return-long-reason": ("reject-return", lambda b, s: {"reason": "x" * 501}),
    "deliver-unknown-field": ("deliver", lambda b, s: {"shipment_id": "S-1"}),
    "deliver-one-reason-a-number": ("deliver-one", lambda b, s: {"reason": 1}),
}


async def timeline(api: httpx.AsyncClient, shop: Shop) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/orders/{shop.order_id}/events", headers=shop.op)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


@pytest.mark.parametrize(("command", "spoil"), INVALID.values(), ids=INVALID.keys())
async def test_an_invalid_fulfilment_request_is_a_quick_422_and_changes_nothing(
    api: httpx.AsyncClient, shop: Shop, command: str, spoil: Any
) -> None:
    path, body = bodies(shop.sku)[command]
    before = (await available(api, shop.sku), await timeline(api, shop))

    answer = await timed(
        api.post(f"/v1/orders/{shop.order_id}/{path}", json=spoil(body, shop.sku), headers=shop.op)
    )

    assert_problem(answer, 422, "validation-error")
    assert (await available(api, shop.sku), await timeline(api, shop)) == before


async def test_a_malformed_json_body_is_a_422_on_the_new_routes(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    for path, _ in bodies(shop.sku).values():
        answer = await timed(
            api.post(
                f"/v1/orders/{shop.order_id}/{path}",
                content=b'{"lines": [',
                headers={**shop.op, "content-type": "application/json"},
            )
        )
        assert_problem(answer, 422, "malformed-json")


OPERATOR_ONLY = ["ship", "deliver", "deliver-one", "receive", "reject-return"]


@pytest.mark.parametrize("command", OPERATOR_ONLY)
async def test_customers_get_403_on_the_operators_fulfilment_routes_for_their_own_order(
    api: httpx.AsyncClient, shop: Shop, command: str
) -> None:
    path, body = bodies(shop.sku)[command]
    before = await timeline(api, shop)

    answer = await timed(
        api.post(f"/v1/orders/{shop.order_id}/{path}", json=body, headers=shop.buyer)
    )

    assert_problem(answer, 403, "forbidden")
    assert await timeline(api, shop) == before


@pytest.mark.parametrize("command", [*bodies("X"), "list-returns"])
async def test_another_customers_order_is_a_404_on_every_fulfilment_route(
    api: httpx.AsyncClient, shop: Shop, command: str
) -> None:
    stranger = await customer(api)
    path, body = ("returns", None) if command == "list-returns" else bodies(shop.sku)[command]
    method = "GET" if command == "list-returns" else "POST"
    before = await timeline(api, shop)

    answer = await timed(
        api.request(method, f"/v1/orders/{shop.order_id}/{path}", json=body, headers=stranger)
    )

    # the operators' routes answer 403 first: the stranger learns nothing of the order either way
    expected = (403, "forbidden") if command in OPERATOR_ONLY else (404, "not-found")
    assert_problem(answer, *expected)
    assert await timeline(api, shop) == before


async def test_the_owner_and_operators_list_an_orders_returns(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    for who in (shop.buyer, shop.op):
        answer = await api.get(f"/v1/orders/{shop.order_id}/returns", headers=who)

        assert answer.status_code == 200, answer.text
        assert answer.json() == {"items": []}


async def test_the_order_shows_its_shipments_and_returns_before_it_has_any(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    order = (await api.get(f"/v1/orders/{shop.order_id}", headers=shop.buyer)).json()

    assert order["shipments"] == []
    assert order["shipment"] is None
    assert order["returns"] == []
    assert [(line["shipped"], line["returned"]) for line in order["lines"]] == [(0, 0)]


async def test_timeline_entries_name_who_caused_them(api: httpx.AsyncClient, shop: Shop) -> None:
    entries = await timeline(api, shop)

    assert entries
    assert all(
        entry["actor"]["type"] in {"customer", "operator", "system", "stripe"} for entry in entries
    )
