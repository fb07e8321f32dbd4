"""Orders through the HTTP API against the real Temporal, PostgreSQL, localstripe and SMTP."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.settings import Settings
from adapters.tables import orders
from devstack.mailbox import wait_for_mail
from tests.integration.conftest import RealParts
from tests.integration.helpers import customer, operator, order_body, stock, wait_for_status

pytestmark = pytest.mark.integration


def stripe_client(settings: Settings) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_local", base_addresses={"api": settings.stripe_api_base})


def intents_for(settings: Settings, order_id: str) -> list[stripe.PaymentIntent]:
    """The PaymentIntents localstripe holds for one order (by the metadata we send)."""
    intents = stripe_client(settings).v1.payment_intents.list(params={"limit": 100}).data
    assert len(intents) < 100, "the test session created more intents than one page"
    return [pi for pi in intents if pi.to_dict()["metadata"].get("order_id") == order_id]


async def order_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(orders))).scalar_one())


async def test_order_is_confirmed_with_an_authorized_payment_intent_and_an_email(
    api: httpx.AsyncClient,
    settings: Settings,
    real_parts: RealParts,
) -> None:
    headers = await customer(api)

    placed = await api.post("/v1/orders", json=order_body({"TSHIRT-BLUE-M": 2}), headers=headers)

    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "accepted"
    assert order["total"] == {"amount": 5000, "currency": "EUR"}
    confirmed = await wait_for_status(api, headers, order["id"], "confirmed")
    assert confirmed["payment"]["status"] == "authorized"
    assert confirmed["payment"]["authorized"] == {"amount": 5000, "currency": "EUR"}

    mine = intents_for(settings, order["id"])
    assert len(mine) == 1
    assert mine[0].status == "requires_capture"
    assert mine[0].amount == 5000

    mail = await wait_for_mail(
        real_parts.mail_dir,
        lambda m: order["id"] in str(m["Subject"]) and "confirmed" in str(m["Subject"]),
        timeout=20,
    )
    assert "Blue T-shirt (M)" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_the_timeline_records_each_transition_in_order(api: httpx.AsyncClient) -> None:
    headers = await customer(api)
    order = (await api.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers=headers)).json()
    await wait_for_status(api, headers, order["id"], "confirmed")

    events = (await api.get(f"/v1/orders/{order['id']}/events", headers=headers)).json()

    assert [e["type"] for e in events] == [
        "order_accepted",
        "payment_authorized",
        "order_confirmed",
    ]
    assert [e["seq"] for e in events] == [1, 2, 3]


async def test_out_of_stock_is_409_and_creates_no_order(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
) -> None:
    headers = await customer(api)
    before_orders, before_stock = await order_count(engine), await stock(engine, "HOODIE-GREY-M")

    refused = await api.post(
        "/v1/orders",
        json=order_body({"HOODIE-GREY-M": 1, "MUG-LOGO": 1, "SNEAKER-WHITE-42": 31}),
        headers=headers,
    )

    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/out-of-stock"
    assert refused.json()["skus"] == ["SNEAKER-WHITE-42"]
    assert await order_count(engine) == before_orders
    assert await stock(engine, "HOODIE-GREY-M") == before_stock


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        pytest.param(order_body({"NO-SUCH-SKU": 1}), "unknown-product", id="unknown-sku"),
        pytest.param(order_body({"MUG-LOGO": 0}), "validation-error", id="quantity-zero"),
        pytest.param(order_body({"MUG-LOGO": 101}), "validation-error", id="quantity-101"),
        pytest.param(
            {**order_body({"MUG-LOGO": 1}), "lines": []}, "validation-error", id="no-lines"
        ),
        pytest.param(
            {**order_body({"MUG-LOGO": 1}), "status": "shipped"},
            "validation-error",
            id="unknown-field",
        ),
        pytest.param(
            {**order_body({"MUG-LOGO": 1}), "payment_method": "card"},
            "validation-error",
            id="bad-payment-method",
        ),
        pytest.param(
            {"lines": [{"sku": "MUG-LOGO", "quantity": 1}]},
            "validation-error",
            id="missing-address",
        ),
    ],
)
async def test_bad_order_input_is_422_problem_and_writes_nothing(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
    body: dict[str, object],
    slug: str,
) -> None:
    headers = await customer(api)
    before = await order_count(engine)

    refused = await api.post("/v1/orders", json=body, headers=headers)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == f"/problems/{slug}"
    assert await order_count(engine) == before


async def test_malformed_json_is_422_problem(api: httpx.AsyncClient) -> None:
    headers = await customer(api)

    refused = await api.post(
        "/v1/orders",
        content=b'{"lines": [',
        headers={**headers, "content-type": "application/json"},
    )

    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/malformed-json"


async def test_concurrent_orders_for_the_last_units_never_oversell(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
) -> None:
    op = await operator(api)
    sku = f"LAST-{uuid.uuid4().hex[:6]}"
    created = await api.post(
        "/v1/products",
        headers=op,
        json={
            "sku": sku,
            "name": "Last units",
            "price": {"amount": 1000, "currency": "EUR"},
            "stock": 3,
        },
    )
    assert created.status_code == 201, created.text
    buyers = [await customer(api) for _ in range(8)]

    answers = await asyncio.gather(
        *[api.post("/v1/orders", json=order_body({sku: 1}), headers=h) for h in buyers]
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 201, 201, 409, 409, 409, 409, 409]
    assert await stock(engine, sku) == (3, 3)


async def test_declined_card_fails_the_payment_and_releases_stock(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
    settings: Settings,
) -> None:
    card = stripe_client(settings).v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    headers = await customer(api)
    before = await stock(engine, "STICKER-PACK")

    placed = await api.post(
        "/v1/orders", json=order_body({"STICKER-PACK": 5}, card.id), headers=headers
    )

    assert placed.status_code == 201
    failed = await wait_for_status(api, headers, placed.json()["id"], "payment_failed")
    assert failed["payment"]["status"] == "failed"
    assert await stock(engine, "STICKER-PACK") == before


async def test_shipping_captures_the_authorized_amount_and_delivery_completes(
    api: httpx.AsyncClient,
    settings: Settings,
) -> None:
    headers, op = await customer(api), await operator(api)
    order = (
        await api.post("/v1/orders", json=order_body({"TSHIRT-BLUE-L": 3}), headers=headers)
    ).json()
    await wait_for_status(api, headers, order["id"], "confirmed")

    shipped = await api.post(
        f"/v1/orders/{order['id']}/shipments",
        headers=op,
        json={"carrier": "DHL", "tracking_number": "JD014600006281"},
    )

    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"
    assert shipped.json()["payment"]["captured"] == {"amount": 7500, "currency": "EUR"}
    read_back = await api.get(f"/v1/orders/{order['id']}", headers=op)
    assert shipped.json() == read_back.json()  # answered from the update, same as the read model
    mine = intents_for(settings, order["id"])
    assert [pi.status for pi in mine] == ["succeeded"]
    too_late = await api.post(
        f"/v1/orders/{order['id']}/cancel", headers=headers, json={"reason": "changed my mind"}
    )
    assert too_late.status_code == 409
    assert too_late.json()["type"] == "/problems/not-cancellable"

    delivered = await api.post(f"/v1/orders/{order['id']}/delivery", headers=op)
    assert delivered.json()["status"] == "delivered"


async def test_another_customers_order_is_404_not_403(api: httpx.AsyncClient) -> None:
    owner, stranger, op = await customer(api), await customer(api), await operator(api)
    order = (await api.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers=owner)).json()

    for path in ("", "/events", "/notifications"):
        assert (
            await api.get(f"/v1/orders/{order['id']}{path}", headers=stranger)
        ).status_code == 404
    assert (
        await api.post(f"/v1/orders/{order['id']}/cancel", headers=stranger, json={"reason": "x"})
    ).status_code == 404
    assert (await api.get(f"/v1/orders/{order['id']}", headers=op)).status_code == 200
    mine = (await api.get("/v1/orders", headers=stranger)).json()
    assert mine["items"] == []


async def test_customer_lists_own_orders_newest_first_in_cursor_pages(
    api: httpx.AsyncClient,
) -> None:
    headers = await customer(api)
    ids = []
    for _ in range(3):
        placed = await api.post("/v1/orders", json=order_body({"STICKER-PACK": 1}), headers=headers)
        ids.append(placed.json()["id"])

    first = (await api.get("/v1/orders?limit=2", headers=headers)).json()
    second = (
        await api.get(f"/v1/orders?limit=2&cursor={first['next_cursor']}", headers=headers)
    ).json()

    assert [o["id"] for o in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    tampered = await api.get(f"/v1/orders?cursor={first['next_cursor'][:-2]}xx", headers=headers)
    assert tampered.status_code == 422


async def test_same_idempotency_key_returns_the_same_order(api: httpx.AsyncClient) -> None:
    headers = await customer(api)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = order_body({"MUG-LOGO": 2})

    first = await api.post("/v1/orders", json=body, headers={**headers, **key})
    again = await api.post("/v1/orders", json=body, headers={**headers, **key})
    other = await api.post(
        "/v1/orders", json=order_body({"MUG-LOGO": 3}), headers={**headers, **key}
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_cancel_before_shipment_releases_stock_and_voids_the_authorization(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
    settings: Settings,
) -> None:
    headers = await customer(api)
    before = await stock(engine, "HOODIE-GREY-M")
    order = (
        await api.post("/v1/orders", json=order_body({"HOODIE-GREY-M": 2}), headers=headers)
    ).json()
    await wait_for_status(api, headers, order["id"], "confirmed")

    cancelled = await api.post(
        f"/v1/orders/{order['id']}/cancel", headers=headers, json={"reason": "changed my mind"}
    )

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await stock(engine, "HOODIE-GREY-M") == before
    mine = intents_for(settings, order["id"])
    assert [pi.status for pi in mine] == ["canceled"]


async def test_two_concurrent_requests_with_one_key_make_one_order(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = await customer(api)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    before = await order_count(engine)

    first, second = await asyncio.gather(
        api.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers={**headers, **key}),
        api.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers={**headers, **key}),
    )

    assert sorted([first.status_code, second.status_code]) == [200, 201]
    assert first.json()["id"] == second.json()["id"]
    assert await order_count(engine) == before + 1
