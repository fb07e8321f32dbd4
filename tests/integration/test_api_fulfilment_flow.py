"""Split shipments, edits and returns through the API, on the real stack (workers, Temporal,
PostgreSQL, localstripe): each answer is the order (or the return) as the workflow left it,
and the timeline names who did what (docs/orders.md, "Shipments, edits and returns")."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.helpers import customer, operator, order_body, wait_for_status
from tests.integration.test_api_bad_input import available, new_product
from tests.integration.test_api_errors import assert_problem

pytestmark = pytest.mark.integration


class Order:
    """A confirmed order of two products of the test's own: `a` at 1000, `b` at 500."""

    def __init__(
        self, api: httpx.AsyncClient, buyer: dict[str, str], op: dict[str, str], a: str, b: str
    ) -> None:
        self.api, self.buyer, self.op, self.a, self.b = api, buyer, op, a, b
        self.id = ""

    @property
    def url(self) -> str:
        return f"/v1/orders/{self.id}"

    async def post(
        self, path: str, body: object = None, *, by_owner: bool = False
    ) -> httpx.Response:
        headers = self.buyer if by_owner else self.op
        return await self.api.post(f"{self.url}/{path}", json=body, headers=headers)

    async def ship(self, tracking: str, lines: dict[str, int] | None = None) -> httpx.Response:
        body: dict[str, object] = {"carrier": "DHL", "tracking_number": tracking}
        if lines is not None:
            body["lines"] = [{"sku": sku, "quantity": q} for sku, q in lines.items()]
        return await self.post("shipments", body)

    async def events(self) -> list[dict[str, object]]:
        answer = await self.api.get(f"{self.url}/events", headers=self.op)
        assert answer.status_code == 200, answer.text
        return list(answer.json())


async def confirmed(api: httpx.AsyncClient, a_units: int = 3, b_units: int = 1) -> Order:
    op, buyer = await operator(api), await customer(api)
    order = Order(api, buyer, op, await new_product(api, op, 1000), await new_product(api, op, 500))
    placed = await api.post(
        "/v1/orders", json=order_body({order.a: a_units, order.b: b_units}), headers=buyer
    )
    assert placed.status_code == 201, placed.text
    order.id = placed.json()["id"]
    await wait_for_status(api, buyer, order.id, "confirmed")
    return order


def units(answer: dict[str, object]) -> dict[str, int]:
    lines = answer["lines"]
    assert isinstance(lines, list)
    return {line["sku"]: line["quantity"] for line in lines}


def line(order: dict[str, object], sku: str) -> dict[str, object]:
    lines = order["lines"]
    assert isinstance(lines, list)
    return next(entry for entry in lines if entry["sku"] == sku)


async def delivered(api: httpx.AsyncClient) -> Order:
    order = await confirmed(api)
    assert (await order.ship("T-ALL")).status_code == 200
    answer = await order.post("delivery")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "delivered"
    return order


async def test_an_order_ships_in_two_parcels_delivered_one_by_one(api: httpx.AsyncClient) -> None:
    order = await confirmed(api)

    first = await order.ship("T-1", {order.a: 2})

    assert first.status_code == 200, first.text
    shipped = first.json()
    assert shipped["status"] == "partially_shipped"
    assert shipped["payment"]["captured"]["amount"] == shipped["total"]["amount"] == 3500
    assert [(s["id"], units(s), s["delivered_at"]) for s in shipped["shipments"]] == [
        ("S-1", {order.a: 2}, None)
    ]
    assert shipped["shipment"] == {"carrier": "DHL", "tracking_number": "T-1"}
    assert (line(shipped, order.a)["shipped"], line(shipped, order.b)["shipped"]) == (2, 0)

    assert_problem(await order.ship("T-X", {order.a: 2}), 422, "too-many-units")
    assert_problem(await order.ship("T-X", {"NOT-ON-IT": 1}), 422, "unknown-line")
    assert_problem(await order.post("delivery"), 409, "invalid-state")

    rest = await order.ship("T-2")  # no lines: every unit not shipped yet

    assert rest.status_code == 200, rest.text
    assert rest.json()["status"] == "shipped"
    assert [(s["id"], units(s)) for s in rest.json()["shipments"]] == [
        ("S-1", {order.a: 2}),
        ("S-2", {order.a: 1, order.b: 1}),
    ]
    assert rest.json()["shipment"] == {"carrier": "DHL", "tracking_number": "T-2"}
    assert_problem(await order.ship("T-3"), 409, "invalid-state")

    one = await order.post("shipments/S-1/delivery")

    assert one.status_code == 200, one.text
    assert one.json()["status"] == "shipped"
    assert [s["delivered_at"] is not None for s in one.json()["shipments"]] == [True, False]
    assert_problem(await order.post("shipments/S-9/delivery"), 404, "unknown-shipment")

    other = await order.post("shipments/S-2/delivery", {"reason": "signed for"})

    assert other.status_code == 200, other.text
    assert other.json()["status"] == "delivered"
    read = (await api.get(order.url, headers=order.buyer)).json()
    assert read["shipments"] == other.json()["shipments"]
    types = [event["type"] for event in await order.events()]
    assert types.count("order_shipped") == 2


async def test_the_timeline_names_who_did_what(api: httpx.AsyncClient) -> None:
    order = await confirmed(api)
    customer_id = (await api.get(order.url, headers=order.buyer)).json()["customer_id"]

    edit = await order.post("edits", {"lines": [{"sku": order.a, "quantity": 2}]}, by_owner=True)
    assert edit.status_code == 200, edit.text
    assert (await order.ship("T-1", {order.a: 1})).status_code == 200

    actors = {event["type"]: event["actor"] for event in await order.events()}
    assert actors["order_accepted"] == {"type": "customer", "id": customer_id}
    assert actors["order_updated"] == {"type": "customer", "id": customer_id}
    shipped = actors["order_shipped"]
    assert isinstance(shipped, dict)
    assert shipped["type"] == "operator"
    assert shipped["id"] not in (None, customer_id)


async def test_the_owner_lowers_quantities_until_the_first_shipment(
    api: httpx.AsyncClient,
) -> None:
    order = await confirmed(api, a_units=3, b_units=2)
    before = await available(api, order.a)

    edit = await order.post("edits", {"lines": [{"sku": order.a, "quantity": 1}]}, by_owner=True)

    assert edit.status_code == 200, edit.text
    assert units(edit.json()) == {order.a: 1, order.b: 2}
    assert edit.json()["total"]["amount"] == 1000 + 2 * 500
    assert edit.json()["status"] == "confirmed"
    assert await available(api, order.a) == before + 2  # released at once
    raise_ = await order.post("edits", {"lines": [{"sku": order.a, "quantity": 2}]}, by_owner=True)
    assert_problem(raise_, 422, "invalid-edit")
    unknown = await order.post("edits", {"lines": [{"sku": "NOT-ON-IT", "quantity": 0}]})
    assert_problem(unknown, 422, "unknown-line")
    nothing = await order.post(
        "edits", {"lines": [{"sku": order.a, "quantity": 0}, {"sku": order.b, "quantity": 0}]}
    )
    assert_problem(nothing, 422, "invalid-edit")

    assert (await order.ship("T-1", {order.a: 1})).status_code == 200
    late = await order.post("edits", {"lines": [{"sku": order.b, "quantity": 1}]}, by_owner=True)
    assert late.status_code == 409, late.text
    by_operator = await order.post("edits", {"lines": [{"sku": order.b, "quantity": 1}]})

    assert by_operator.status_code == 200, by_operator.text
    assert units(by_operator.json()) == {order.a: 1, order.b: 1}


async def test_a_return_is_received_restocked_and_refunded(api: httpx.AsyncClient) -> None:
    order = await delivered(api)

    opened = await order.post(
        "returns",
        {"lines": [{"sku": order.a, "quantity": 1}], "reason": "too small"},
        by_owner=True,
    )

    assert opened.status_code == 201, opened.text
    first = opened.json()
    assert (first["id"], first["status"], units(first), first["reason"]) == (
        "R-1",
        "requested",
        {order.a: 1},
        "too small",
    )
    assert first["refund"] == {"amount": 0, "currency": "EUR"}
    assert first["resolved_at"] is None
    listed = await api.get(f"{order.url}/returns", headers=order.buyer)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [first]}
    too_many = await order.post(
        "returns", {"lines": [{"sku": order.a, "quantity": 3}], "reason": "x"}, by_owner=True
    )
    assert_problem(too_many, 422, "too-many-units")
    before = await available(api, order.a)

    received = await order.post("returns/R-1/receive")

    assert received.status_code == 200, received.text
    assert received.json()["status"] == "received"
    assert received.json()["refund"] == {"amount": 1000, "currency": "EUR"}
    assert received.json()["resolved_at"] is not None
    assert await available(api, order.a) == before + 1
    read = (await api.get(order.url, headers=order.buyer)).json()
    assert line(read, order.a)["returned"] == 1
    assert read["payment"]["refunded"]["amount"] == 1000
    assert read["returns"] == [received.json()]
    assert_problem(await order.post("returns/R-1/receive"), 409, "invalid-state")
    assert_problem(await order.post("returns/R-9/receive"), 404, "unknown-return")


async def test_a_return_is_rejected_or_received_without_restocking(api: httpx.AsyncClient) -> None:
    order = await delivered(api)
    body = {"lines": [{"sku": order.b, "quantity": 1}], "reason": "broken"}
    assert (await order.post("returns", body, by_owner=True)).json()["id"] == "R-1"

    rejected = await order.post("returns/R-1/reject", {"reason": "the parcel was empty"})

    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["refund"]["amount"] == 0
    assert rejected.json()["resolution"] == "the parcel was empty"
    assert_problem(
        await order.post("returns/R-1/reject", {"reason": "again"}), 409, "invalid-state"
    )

    again = await order.post("returns", body)  # an operator, for the customer
    assert again.status_code == 201, again.text
    assert again.json()["id"] == "R-2"
    before = await available(api, order.b)

    written_off = await order.post("returns/R-2/receive", {"restock": False})

    assert written_off.status_code == 200, written_off.text
    assert written_off.json()["refund"]["amount"] == 500
    assert await available(api, order.b) == before
    listed = (await api.get(f"{order.url}/returns", headers=order.op)).json()["items"]
    assert [(r["id"], r["status"]) for r in listed] == [("R-1", "rejected"), ("R-2", "received")]


async def test_a_return_needs_a_delivered_order(api: httpx.AsyncClient) -> None:
    order = await confirmed(api)
    body = {"lines": [{"sku": order.a, "quantity": 1}], "reason": "too small"}

    assert_problem(await order.post("returns", body, by_owner=True), 409, "invalid-state")
    assert (await order.ship("T-1", {order.a: 1})).status_code == 200
    assert_problem(await order.post("returns", body, by_owner=True), 409, "invalid-state")
    assert (await api.get(f"{order.url}/returns", headers=order.buyer)).json() == {"items": []}


async def test_a_return_sent_again_with_its_idempotency_key_opens_one_return(
    api: httpx.AsyncClient,
) -> None:
    order = await delivered(api)
    body = {"lines": [{"sku": order.a, "quantity": 1}], "reason": "too small"}
    headers = {**order.buyer, "Idempotency-Key": "return-once"}

    first = await api.post(f"{order.url}/returns", json=body, headers=headers)
    again = await api.post(f"{order.url}/returns", json=body, headers=headers)
    other = await api.post(
        f"{order.url}/returns", json={**body, "reason": "too big"}, headers=headers
    )

    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert_problem(other, 422, "idempotency-key-reused")
    listed = (await api.get(f"{order.url}/returns", headers=order.buyer)).json()["items"]
    assert [r["id"] for r in listed] == ["R-1"]
