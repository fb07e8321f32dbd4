"""Bad input at the HTTP edge: every field, path and query parameter refuses NUL, the other
control characters and lone surrogates with a 4xx problem, at once, and changes nothing.

A NUL in a shipping address once passed validation, reached a JSONB column and left the
order's workflow retrying for ever while the client waited; a NUL in a path or a query
answered 500."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest

from tests.integration.helpers import customer, operator, order_body, wait_for_status
from tests.integration.test_api_errors import assert_problem

pytestmark = pytest.mark.integration

BAD = {"nul": "\x00", "escape": "\x1b", "del": "\x7f", "c1": "\x9b", "surrogate": "\ud800"}
"""Characters no field takes; tab and newline are refused on one-line fields only."""

FAST = 1.0
"""Seconds a refusal may take: it is validation, nothing waits on a workflow."""

ORDER_FIELDS: list[tuple[str, ...]] = [
    ("shipping_address", "name"),
    ("shipping_address", "line1"),
    ("shipping_address", "line2"),
    ("shipping_address", "city"),
    ("shipping_address", "postal_code"),
    ("shipping_address", "country"),
    ("lines", "0", "sku"),
    ("payment_method",),
]

SHIPMENT = {"carrier": "DHL", "tracking_number": "JD014600006281"}
SOME_LINES = {"lines": [{"sku": "ANY-SKU", "quantity": 1}]}
COMMANDS: list[tuple[str, dict[str, Any], str]] = [
    # the command's path under the order, a valid body, and the field spoiled (dotted path)
    ("cancel", {"reason": "changed my mind"}, "reason"),
    ("approve", {"reason": "looks fine"}, "reason"),
    ("reject", {"reason": "looks odd"}, "reason"),
    ("shipments", SHIPMENT, "carrier"),
    ("shipments", SHIPMENT, "tracking_number"),
    ("shipments", {**SHIPMENT, **SOME_LINES}, "lines.0.sku"),
    ("delivery", {"reason": "signed for"}, "reason"),
    ("shipments/S-1/delivery", {"reason": "signed for"}, "reason"),
    ("edits", SOME_LINES, "lines.0.sku"),
    ("returns", {**SOME_LINES, "reason": "too small"}, "reason"),
    ("returns", {**SOME_LINES, "reason": "too small"}, "lines.0.sku"),
    ("returns/R-1/reject", {"reason": "the parcel was empty"}, "reason"),
    ("refunds", {"reason": "damaged"}, "reason"),
]


def raw_json(body: Any) -> dict[str, Any]:
    """Request arguments for a JSON body sent as is: `"\\ud800"` stays an escape, as a
    client in another language would send it (httpx's `json=` cannot encode a surrogate)."""
    return {"content": json.dumps(body), "headers": {"content-type": "application/json"}}


def with_value(body: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    """A deep copy of `body` with the field at `path` replaced (list indexes as digits)."""
    copy: Any = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    target[path[-1]] = value
    return dict(copy)


async def timed(request: Awaitable[httpx.Response]) -> httpx.Response:
    """The answer, which must come within `FAST` seconds: a hang fails, it does not wait."""
    try:
        return await asyncio.wait_for(request, timeout=FAST)
    except TimeoutError:
        raise AssertionError(f"no answer within {FAST}s") from None


async def available(api: httpx.AsyncClient, sku: str) -> int:
    answer = await api.get(f"/v1/products/{sku}")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["available"])


async def new_product(api: httpx.AsyncClient, op: dict[str, str], price: int = 1500) -> str:
    """A product of this module's own, so no other test moves its stock."""
    sku = f"BAD-INPUT-{uuid.uuid4().hex[:8]}"
    created = await api.post(
        "/v1/products",
        json={
            "sku": sku,
            "name": "Bad input",
            "price": {"amount": price, "currency": "EUR"},
            "stock": 20,
        },
        headers=op,
    )
    assert created.status_code == 201, created.text
    return sku


class Shop:
    """A customer, the operator, a product of its own and one confirmed order of it."""

    def __init__(self, buyer: dict[str, str], op: dict[str, str], sku: str, order_id: str):
        self.buyer, self.op, self.sku, self.order_id = buyer, op, sku, order_id


async def open_shop(api: httpx.AsyncClient) -> Shop:
    op, buyer = await operator(api), await customer(api)
    sku = await new_product(api, op)
    placed = await api.post("/v1/orders", json=order_body({sku: 1}), headers=buyer)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await wait_for_status(api, buyer, order_id, "confirmed")
    return Shop(buyer, op, sku, order_id)


@pytest.fixture(scope="module")
async def shop(api: httpx.AsyncClient) -> AsyncIterator[Shop]:
    yield await open_shop(api)


async def orders_of(api: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    listed = await api.get("/v1/orders", params={"limit": 100}, headers=headers)
    assert listed.status_code == 200, listed.text
    return [order["id"] for order in listed.json()["items"]]


def value_at(body: dict[str, Any], path: tuple[str, ...]) -> str:
    target: Any = body
    for key in path:
        target = target[int(key)] if key.isdigit() else target[key]
    return str(target)


def merge(request: dict[str, Any], auth: dict[str, str]) -> dict[str, Any]:
    return {**request, "headers": {**request["headers"], **auth}}


@pytest.mark.parametrize("char", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("path", ORDER_FIELDS, ids=[".".join(p) for p in ORDER_FIELDS])
async def test_a_control_character_in_any_order_field_is_a_quick_422_and_orders_nothing(
    api: httpx.AsyncClient, shop: Shop, path: tuple[str, ...], char: str
) -> None:
    body = order_body({shop.sku: 1})
    body["shipping_address"] = {**body["shipping_address"], "line2": "Flat 2"}
    bad = with_value(body, path, value_at(body, path) + char)
    before = (await available(api, shop.sku), await orders_of(api, shop.buyer))

    answer = await timed(api.post("/v1/orders", **merge(raw_json(bad), shop.buyer)))

    assert_problem(answer, 422, "validation-error")
    assert ["body", *path] in [e["loc"] for e in answer.json()["errors"]]
    assert (await available(api, shop.sku), await orders_of(api, shop.buyer)) == before


@pytest.mark.parametrize("char", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize(
    ("command", "body", "field"), COMMANDS, ids=[f"{c}.{f}" for c, _, f in COMMANDS]
)
async def test_a_control_character_in_any_command_field_is_a_quick_422_and_changes_nothing(
    api: httpx.AsyncClient, shop: Shop, command: str, body: dict[str, Any], field: str, char: str
) -> None:
    url = f"/v1/orders/{shop.order_id}"
    before = (
        await available(api, shop.sku),
        (await api.get(f"{url}/events", headers=shop.op)).json(),
    )
    path = tuple(field.split("."))
    bad = with_value(body, path, value_at(body, path) + char)

    answer = await timed(api.post(f"{url}/{command}", **merge(raw_json(bad), shop.op)))

    assert_problem(answer, 422, "validation-error")
    assert ["body", *path] in [e["loc"] for e in answer.json()["errors"]]
    after = (
        await available(api, shop.sku),
        (await api.get(f"{url}/events", headers=shop.op)).json(),
    )
    assert after == before
    assert (await api.get(url, headers=shop.op)).json()["status"] == "confirmed"


async def test_a_reason_may_span_lines(api: httpx.AsyncClient, shop: Shop) -> None:
    reason = "line one\nline two\ttabbed\r\n"

    # the order is confirmed, not under review: a 409 shows the reason itself was taken
    answer = await api.post(
        f"/v1/orders/{shop.order_id}/reject", json={"reason": reason}, headers=shop.op
    )

    assert_problem(answer, 409, "invalid-state")


@pytest.mark.parametrize(
    ("field", "value"),
    [("carrier", "DHL\nExpress"), ("tracking_number", "JD01\t4600006281")],
)
async def test_shipment_fields_take_one_line(
    api: httpx.AsyncClient, shop: Shop, field: str, value: str
) -> None:
    body = {"carrier": "DHL", "tracking_number": "JD014600006281", field: value}

    answer = await api.post(f"/v1/orders/{shop.order_id}/shipments", json=body, headers=shop.op)

    assert_problem(answer, 422, "validation-error")
    assert (await api.get(f"/v1/orders/{shop.order_id}", headers=shop.op)).json()[
        "status"
    ] == "confirmed"


NOT_AN_ORDER_ID = {
    "nul": "%00",
    "escape": "%1B",
    "newline-after-a-real-shape": "ord_0123456789abcdef0123%0A",
    "upper-case-hex": "ord_0123456789ABCDEF0123",
    "too-short": "ord_0123",
    "other-prefix": "usr_0123456789abcdef0123",
    "surrogate-bytes": "%ED%A0%80",
    "long": "ord_" + "0" * 300,
}
ORDER_ROUTES = [
    ("GET", "", None),
    ("GET", "/events", None),
    ("GET", "/notifications", None),
    ("POST", "/cancel", {"reason": "x"}),
    ("POST", "/approve", None),
    ("POST", "/reject", None),
    ("POST", "/shipments", {"carrier": "DHL", "tracking_number": "1"}),
    ("POST", "/delivery", None),
    ("POST", "/shipments/S-1/delivery", None),
    ("POST", "/edits", SOME_LINES),
    ("POST", "/returns", {**SOME_LINES, "reason": "too small"}),
    ("GET", "/returns", None),
    ("POST", "/returns/R-1/receive", None),
    ("POST", "/returns/R-1/reject", {"reason": "empty"}),
    ("POST", "/refunds", {}),
]


@pytest.mark.parametrize("order_id", NOT_AN_ORDER_ID.values(), ids=NOT_AN_ORDER_ID.keys())
@pytest.mark.parametrize(
    ("method", "suffix", "body"), ORDER_ROUTES, ids=[f"{m}{s or '/'}" for m, s, _ in ORDER_ROUTES]
)
async def test_an_order_id_that_cannot_exist_is_the_404_of_an_unknown_order(
    api: httpx.AsyncClient,
    shop: Shop,
    order_id: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    answer = await timed(
        api.request(method, f"/v1/orders/{order_id}{suffix}", json=body, headers=shop.op)
    )

    assert_problem(answer, 404, "not-found")


NOT_A_PART_ID = {
    "nul": "%00",
    "nul-after-a-real-shape": "{}-1%00",
    "escape": "{}-1%1B",
    "newline-after-a-real-shape": "{}-1%0A",
    "lower-case": "{lower}-1",
    "zero": "{}-0",
    "leading-zero": "{}-01",
    "surrogate-bytes": "{}-%ED%A0%80",
    "long": "{}-" + "1" * 300,
}
PART_ROUTES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    # a route naming a shipment or a return: its kind's prefix, the 404's slug, a valid body
    "/shipments/{}/delivery": ("S", "unknown-shipment", None),
    "/returns/{}/receive": ("R", "unknown-return", None),
    "/returns/{}/reject": ("R", "unknown-return", {"reason": "empty"}),
}


@pytest.mark.parametrize("part_id", NOT_A_PART_ID.values(), ids=NOT_A_PART_ID.keys())
@pytest.mark.parametrize("route", PART_ROUTES)
async def test_a_shipment_or_return_id_that_cannot_exist_is_the_404_of_an_unknown_one(
    api: httpx.AsyncClient, shop: Shop, part_id: str, route: str
) -> None:
    prefix, slug, body = PART_ROUTES[route]
    named = part_id.format(prefix, lower=prefix.lower())
    url = f"/v1/orders/{shop.order_id}{route.format(named)}"
    before = (await api.get(f"/v1/orders/{shop.order_id}/events", headers=shop.op)).json()

    answer = await timed(api.post(url, json=body, headers=shop.op))

    assert_problem(answer, 404, slug)
    after = (await api.get(f"/v1/orders/{shop.order_id}/events", headers=shop.op)).json()
    assert after == before


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("POST", "/stock", {"delta": 1}),
    ],
)
@pytest.mark.parametrize("sku", ["%00", "%1B", "A%7F", "%ED%A0%80", "MUG-LOGO%0A"])
async def test_a_sku_that_cannot_exist_is_a_4xx(
    api: httpx.AsyncClient,
    shop: Shop,
    sku: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    answer = await timed(
        api.request(method, f"/v1/products/{sku}{suffix}", json=body, headers=shop.op)
    )

    assert answer.status_code in (404, 422), answer.text
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/orders", "status=%00"),
        ("/v1/orders", "status=shipped%00"),
        ("/v1/orders", "status=lost"),
        ("/v1/orders", "customer_id=%00"),
        ("/v1/orders", "customer_id=usr_0123"),
        ("/v1/orders", "customer_id=usr_0123456789abcdef0123%0A"),
        ("/v1/orders", "cursor=%00"),
        ("/v1/orders", "cursor=abc%1B"),
        ("/v1/orders", "limit=%00"),
        ("/v1/products", "q=%00"),
        ("/v1/products", "q=mug%1B"),
        ("/v1/products", "q=mug%0A"),
        ("/v1/products", "cursor=%00"),
        ("/v1/products", "cursor=%7F"),
        ("/v1/products", "limit=1%00"),
        ("/v1/webhook-endpoints", "cursor=%00"),
        ("/v1/webhook-endpoints", "limit=1%00"),
    ],
)
async def test_a_malformed_query_is_a_quick_422(
    api: httpx.AsyncClient, shop: Shop, path: str, query: str
) -> None:
    answer = await timed(api.get(f"{path}?{query}", headers=shop.op))

    assert_problem(answer, 422, "validation-error")


async def test_status_filters_by_the_order_statuses(api: httpx.AsyncClient, shop: Shop) -> None:
    confirmed = await api.get("/v1/orders?status=confirmed", headers=shop.buyer)
    shipped = await api.get("/v1/orders?status=shipped", headers=shop.buyer)

    assert [o["id"] for o in confirmed.json()["items"]] == [shop.order_id]
    assert shipped.json()["items"] == []


BAD_KEYS: dict[str, bytes] = {
    "empty": b"",
    "space": b"a key",
    "nul": b"a\x00",
    "escape": b"a\x1b",
    "tab": b"a\tb",
    "del": b"a\x7f",
    "latin-1": b"cl\xe9",
    "utf-8": "clé".encode(),
    "too-long": b"k" * 256,
}


def with_key(auth: dict[str, str], key: bytes) -> dict[bytes, bytes]:
    return {**{k.encode(): v.encode() for k, v in auth.items()}, b"Idempotency-Key": key}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
async def test_an_idempotency_key_that_is_not_printable_ascii_is_a_422(
    api: httpx.AsyncClient, shop: Shop, key: bytes
) -> None:
    before = (await available(api, shop.sku), await orders_of(api, shop.buyer))
    placed = await timed(
        api.post(
            "/v1/orders",
            json=order_body({shop.sku: 1}),
            headers=with_key(shop.buyer, key),
        )
    )
    refund = await timed(
        api.post(
            f"/v1/orders/{shop.order_id}/refunds",
            json={},
            headers=with_key(shop.op, key),
        )
    )

    for answer in (placed, refund):
        assert_problem(answer, 422, "validation-error")
        assert ["header", "idempotency-key"] in [e["loc"] for e in answer.json()["errors"]]
    assert (await available(api, shop.sku), await orders_of(api, shop.buyer)) == before


INTEGER_FIELDS: dict[str, tuple[int, Any]] = {
    # a valid value, and what a request with that value in the field would send
    "refund-amount": (
        1500,
        lambda shop, v: (
            "POST",
            f"/v1/orders/{shop.order_id}/refunds",
            {"amount": {"amount": v, "currency": "EUR"}},
        ),
    ),
    "order-quantity": (
        1,
        lambda shop, v: (
            "POST",
            "/v1/orders",
            {**order_body({shop.sku: 1}), "lines": [{"sku": shop.sku, "quantity": v}]},
        ),
    ),
    "product-price": (
        1500,
        lambda shop, v: ("POST", "/v1/products", new_product_body(price=v)),
    ),
    "product-stock": (
        5,
        lambda shop, v: ("POST", "/v1/products", new_product_body(stock=v)),
    ),
    "price-change": (
        1500,
        lambda shop, v: (
            "PATCH",
            f"/v1/products/{shop.sku}",
            {"price": {"amount": v, "currency": "EUR"}},
        ),
    ),
    "stock-delta": (
        1,
        lambda shop, v: ("POST", f"/v1/products/{shop.sku}/stock", {"delta": v}),
    ),
    "shipment-quantity": (
        1,
        lambda shop, v: (
            "POST",
            f"/v1/orders/{shop.order_id}/shipments",
            {**SHIPMENT, "lines": [{"sku": shop.sku, "quantity": v}]},
        ),
    ),
    "edit-quantity": (
        0,
        lambda shop, v: (
            "POST",
            f"/v1/orders/{shop.order_id}/edits",
            {"lines": [{"sku": shop.sku, "quantity": v}]},
        ),
    ),
    "return-quantity": (
        1,
        lambda shop, v: (
            "POST",
            f"/v1/orders/{shop.order_id}/returns",
            {"lines": [{"sku": shop.sku, "quantity": v}], "reason": "too small"},
        ),
    ),
}
NOT_INTEGERS = {"string": str, "float": float, "bool": lambda _: True}


def new_product_body(price: Any = 1500, stock: Any = 5) -> dict[str, Any]:
    return {
        "sku": f"STRICT-{uuid.uuid4().hex[:8]}",
        "name": "Strict",
        "price": {"amount": price, "currency": "EUR"},
        "stock": stock,
    }


@pytest.mark.parametrize("spoil", NOT_INTEGERS.values(), ids=NOT_INTEGERS.keys())
@pytest.mark.parametrize("field", INTEGER_FIELDS.values(), ids=INTEGER_FIELDS.keys())
async def test_amounts_quantities_and_stock_are_json_integers_only(
    api: httpx.AsyncClient, shop: Shop, field: tuple[int, Any], spoil: Any
) -> None:
    valid, request = field
    method, url, body = request(shop, spoil(valid))
    who = shop.buyer if url == "/v1/orders" else shop.op
    before = (
        (await api.get(f"/v1/products/{shop.sku}")).json(),
        await orders_of(api, shop.buyer),
        (await api.get(f"/v1/orders/{shop.order_id}/events", headers=shop.op)).json(),
    )

    answer = await timed(api.request(method, url, json=body, headers=who))

    assert_problem(answer, 422, "validation-error")
    after = (
        (await api.get(f"/v1/products/{shop.sku}")).json(),
        await orders_of(api, shop.buyer),
        (await api.get(f"/v1/orders/{shop.order_id}/events", headers=shop.op)).json(),
    )
    assert after == before
    if url == "/v1/products":
        assert (await api.get(f"/v1/products/{body['sku']}")).status_code == 404


@pytest.mark.parametrize(("command", "status"), [("approve", "confirmed"), ("reject", "cancelled")])
async def test_approve_and_reject_need_no_body(
    api: httpx.AsyncClient, shop: Shop, command: str, status: str
) -> None:
    sku = await new_product(api, shop.op, price=150_000)  # over the review threshold
    placed = await api.post("/v1/orders", json=order_body({sku: 1}), headers=shop.buyer)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await wait_for_status(api, shop.buyer, order_id, "under_review")

    answer = await api.post(f"/v1/orders/{order_id}/{command}", headers=shop.op)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == status


_REGISTER = {"email": "x@example.com", "password": "p" * 12, "name": "N"}
_TOKEN = {"email": "x@example.com", "password": "p" * 12}
AUTH_FIELDS = [
    ("/v1/auth/register", _REGISTER, "email"),
    ("/v1/auth/register", _REGISTER, "password"),
    ("/v1/auth/register", _REGISTER, "name"),
    ("/v1/auth/token", _TOKEN, "email"),
    ("/v1/auth/token", _TOKEN, "password"),
]


@pytest.mark.parametrize("char", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize(
    ("url", "body", "field"),
    AUTH_FIELDS,
    ids=[f"{u.rsplit('/', 1)[1]}.{f}" for u, _, f in AUTH_FIELDS],
)
async def test_auth_fields_refuse_control_characters(
    api: httpx.AsyncClient, url: str, body: dict[str, str], field: str, char: str
) -> None:
    value = body[field].replace("@", f"{char}@") if field == "email" else body[field] + char

    answer = await timed(api.post(url, **raw_json({**body, field: value})))

    if url == "/v1/auth/token" and char == BAD["surrogate"]:
        # the token endpoint parses its JSON with pydantic, which refuses a lone surrogate
        assert_problem(answer, 422, "malformed-json")
        return
    assert_problem(answer, 422, "validation-error")
    assert ["body", field] in [e["loc"] for e in answer.json()["errors"]]


@pytest.mark.parametrize("char", ["%00", "%1B", "%7F"], ids=["nul", "escape", "del"])
@pytest.mark.parametrize("field", ["username", "password", "scope", "client_id"])
async def test_the_token_form_refuses_control_characters(
    api: httpx.AsyncClient, field: str, char: str
) -> None:
    form = {"username": "x@example.com", "password": "p" * 12, "scope": "", "client_id": "c"}
    encoded = "&".join(
        f"{k}={v.replace('@', '%40')}{char if k == field else ''}" for k, v in form.items()
    )

    answer = await timed(
        api.post(
            "/v1/auth/token",
            content=encoded,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    )

    assert_problem(answer, 422, "validation-error")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Mug\x00"),
        ("name", "Mug\nline"),
        ("description", "Nul\x00"),
        ("description", "Esc\x1b"),
        ("description", "Bad\ud800"),
        ("sku", "SKU\x00"),
    ],
    ids=[
        "name-nul",
        "name-newline",
        "description-nul",
        "description-escape",
        "description-surrogate",
        "sku-nul",
    ],
)
async def test_product_text_refuses_control_characters(
    api: httpx.AsyncClient, shop: Shop, field: str, value: str
) -> None:
    create = {
        "sku": f"CTRL-{uuid.uuid4().hex[:8]}",
        "name": "N",
        "description": "D",
        "price": {"amount": 100, "currency": "EUR"},
        "stock": 1,
    }
    product_before = (await api.get(f"/v1/products/{shop.sku}")).json()

    created = await timed(
        api.post("/v1/products", **merge(raw_json({**create, field: value}), shop.op))
    )
    patched = (
        await timed(
            api.patch(f"/v1/products/{shop.sku}", **merge(raw_json({field: value}), shop.op))
        )
        if field != "sku"
        else created
    )

    for answer in (created, patched):
        assert_problem(answer, 422, "validation-error")
    assert (await api.get(f"/v1/products/{create['sku']}")).status_code == 404
    assert (await api.get(f"/v1/products/{shop.sku}")).json() == product_before


async def test_a_description_may_span_lines(api: httpx.AsyncClient, shop: Shop) -> None:
    sku = await new_product(api, shop.op)

    answer = await api.patch(
        f"/v1/products/{sku}", json={"description": "Line one\n\tLine two\r\n"}, headers=shop.op
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["description"] == "Line one\n\tLine two\r\n"
