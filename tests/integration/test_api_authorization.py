"""Roles: operator-only order, payment and webhook endpoints answer 403 to customers, whoever owns
the order (another customer's order is a 404: tests/integration/test_orders_api.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.helpers import customer, order_body

pytestmark = pytest.mark.integration

OPERATOR_ONLY = [
    ("approve", {"reason": "ok"}),
    ("reject", {"reason": "no"}),
    ("shipments", {"carrier": "DHL", "tracking_number": "123"}),
    ("delivery", None),
    ("refunds", {"reason": "broken"}),
]


async def test_customers_get_403_on_operator_endpoints_even_for_their_own_order(
    api: httpx.AsyncClient,
) -> None:
    owner = await customer(api)
    placed = await api.post("/v1/orders", json=order_body({"STICKER-PACK": 1}), headers=owner)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    for command, body in OPERATOR_ONLY:
        answer = await api.post(f"/v1/orders/{order_id}/{command}", json=body, headers=owner)
        assert answer.status_code == 403, (command, answer.text)
        assert answer.json()["type"] == "/problems/forbidden"
    report = await api.get("/v1/payments/reconciliation", headers=owner)
    assert report.status_code == 403
    endpoints = await api.get("/v1/webhook-endpoints", headers=owner)
    assert endpoints.status_code == 403  # each of their routes: test_webhook_endpoints_api.py
    assert (await api.get(f"/v1/orders/{order_id}", headers=owner)).json()["status"] in (
        "accepted",
        "confirmed",
    )


async def test_a_customer_cannot_list_another_customers_orders(api: httpx.AsyncClient) -> None:
    owner, stranger = await customer(api), await customer(api)
    placed = await api.post("/v1/orders", json=order_body({"STICKER-PACK": 1}), headers=owner)
    owner_id = placed.json()["customer_id"]

    theirs = await api.get("/v1/orders", params={"customer_id": owner_id}, headers=stranger)

    assert theirs.status_code == 200
    assert theirs.json()["items"] == []
