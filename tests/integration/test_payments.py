"""Payments against localstripe: 3-D Secure through real webhooks, signatures, dedup."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from activities.reconciliation import ReconcileInput
from adapters.settings import Settings
from adapters.tables import stripe_events
from adapters.temporal import connect
from tests.integration.conftest import WEBHOOK_SECRET
from tests.integration.helpers import customer, operator, order_body, wait_for_status
from tests.integration.test_orders_api import intents_for, stock, stripe_client
from workers import payments
from workflows.reconciliation import ReconciliationWorkflow

pytestmark = pytest.mark.integration


def three_d_secure_card(settings: Settings) -> str:
    card = stripe_client(settings).v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    return str(card.id)


async def authenticate(settings: Settings, order_id: str, secret: str, success: bool) -> None:
    """What Stripe.js does when the customer completes (or fails) the 3-D Secure challenge."""
    [intent] = intents_for(settings, order_id)
    async with httpx.AsyncClient(base_url=settings.stripe_api_base) as client:
        answer = await client.post(
            f"/v1/payment_intents/{intent.id}/_authenticate",
            data={"client_secret": secret, "success": "true" if success else "false"},
            headers={"Authorization": "Bearer sk_test_local"},
        )
        assert answer.status_code == 200, answer.text


async def test_three_d_secure_completed_by_the_customer_confirms_the_order(
    api: httpx.AsyncClient,
    live_api: str,
    settings: Settings,
) -> None:
    owner, stranger, op = await customer(api), await customer(api), await operator(api)
    placed = await api.post(
        "/v1/orders",
        json=order_body({"MUG-LOGO": 1}, three_d_secure_card(settings)),
        headers=owner,
    )
    order_id = placed.json()["id"]

    waiting = await wait_for_status(api, owner, order_id, "payment_action_required")
    secret = waiting["payment"]["client_secret"]
    assert secret and secret.startswith("pi_")
    seen_by_operator = (await api.get(f"/v1/orders/{order_id}", headers=op)).json()
    assert seen_by_operator["payment"]["client_secret"] is None
    assert (await api.get(f"/v1/orders/{order_id}", headers=stranger)).status_code == 404

    await authenticate(settings, order_id, secret, success=True)

    confirmed = await wait_for_status(api, owner, order_id, "confirmed")
    assert confirmed["payment"]["client_secret"] is None
    assert [pi.status for pi in intents_for(settings, order_id)] == ["requires_capture"]


async def test_three_d_secure_failed_by_the_customer_fails_the_payment(
    api: httpx.AsyncClient,
    live_api: str,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    owner = await customer(api)
    before = await stock(engine, "MUG-LOGO")
    placed = await api.post(
        "/v1/orders",
        json=order_body({"MUG-LOGO": 2}, three_d_secure_card(settings)),
        headers=owner,
    )
    order_id = placed.json()["id"]
    waiting = await wait_for_status(api, owner, order_id, "payment_action_required")

    await authenticate(settings, order_id, waiting["payment"]["client_secret"], success=False)

    failed = await wait_for_status(api, owner, order_id, "payment_failed")
    assert failed["payment"]["status"] == "failed"
    assert await stock(engine, "MUG-LOGO") == before


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=at
    )
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def event(order_id: str = "ord_unknown", event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": "pi_x",
                    "object": "payment_intent",
                    "metadata": {"order_id": order_id},
                }
            },
        }
    ).encode()


async def events_recorded(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(stripe_events))).scalar_one()
        )


@pytest.mark.parametrize(
    "case", ["tampered-body", "stale-timestamp", "missing-header", "wrong-secret"]
)
async def test_webhooks_that_do_not_verify_are_400_with_no_effect(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
    case: str,
) -> None:
    body = event()
    headers = signed(body)
    if case == "tampered-body":
        body = body.replace(b"succeeded", b"canceled")
    elif case == "stale-timestamp":
        headers = signed(body, at=int(time.time()) - 301)
    elif case == "missing-header":
        del headers["Stripe-Signature"]
    else:
        headers = signed(body, secret="whsec_someone_else")
    before = await events_recorded(engine)

    answer = await api.post("/v1/webhooks/stripe", content=body, headers=headers)

    assert answer.status_code == 400
    assert answer.json()["type"] == "/problems/invalid-signature"
    assert await events_recorded(engine) == before


async def test_the_same_event_delivered_twice_has_one_effect(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
) -> None:
    headers = await customer(api)
    order = (
        await api.post("/v1/orders", json=order_body({"STICKER-PACK": 1}), headers=headers)
    ).json()
    # The order answers before its payment starts; a prompt needs a running payment.
    await wait_for_status(api, headers, order["id"], "confirmed")
    body = event(order["id"])

    first = await api.post("/v1/webhooks/stripe", content=body, headers=signed(body))
    again = await api.post("/v1/webhooks/stripe", content=body, headers=signed(body))

    assert first.json() == {"status": "delivered"}
    assert again.json() == {"status": "duplicate"}


async def test_an_event_for_an_order_without_a_running_payment_is_ignored_unrecorded(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
) -> None:
    body = event(f"ord_{uuid.uuid4().hex}")
    before = await events_recorded(engine)

    first = await api.post("/v1/webhooks/stripe", content=body, headers=signed(body))
    again = await api.post("/v1/webhooks/stripe", content=body, headers=signed(body))

    assert first.json() == again.json() == {"status": "ignored"}
    assert await events_recorded(engine) == before


async def test_unknown_event_types_are_accepted_and_ignored(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
) -> None:
    body = json.dumps(
        {"id": "evt_customer", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    ).encode()
    before = await events_recorded(engine)

    answer = await api.post("/v1/webhooks/stripe", content=body, headers=signed(body))

    assert answer.status_code == 200
    assert answer.json() == {"status": "ignored"}
    assert await events_recorded(engine) == before


async def test_refunds_partial_then_the_rest_end_refunded_in_stripe_too(
    api: httpx.AsyncClient,
    settings: Settings,
) -> None:
    headers, op = await customer(api), await operator(api)
    order = (
        await api.post("/v1/orders", json=order_body({"TSHIRT-BLUE-M": 2}), headers=headers)
    ).json()
    await wait_for_status(api, headers, order["id"], "confirmed")
    early = await api.post(
        f"/v1/orders/{order['id']}/refunds", headers=op, json={"reason": "too early"}
    )
    assert early.status_code == 409
    await api.post(
        f"/v1/orders/{order['id']}/shipments",
        headers=op,
        json={"carrier": "DHL", "tracking_number": "1"},
    )
    key = {"Idempotency-Key": str(uuid.uuid4())}
    part = {"amount": {"amount": 1500, "currency": "EUR"}, "reason": "late"}

    first = await api.post(f"/v1/orders/{order['id']}/refunds", headers={**op, **key}, json=part)
    again = await api.post(f"/v1/orders/{order['id']}/refunds", headers={**op, **key}, json=part)
    too_much = await api.post(
        f"/v1/orders/{order['id']}/refunds",
        headers=op,
        json={"amount": {"amount": 3501, "currency": "EUR"}, "reason": "x"},
    )
    rest = await api.post(
        f"/v1/orders/{order['id']}/refunds", headers=op, json={"reason": "returned"}
    )

    assert first.status_code == 200, first.text
    assert first.json()["status"] == "shipped"
    assert again.json()["payment"]["refunded"] == {"amount": 1500, "currency": "EUR"}
    assert too_much.status_code == 422
    assert too_much.json()["type"] == "/problems/refund-too-large"
    assert rest.json()["status"] == "refunded"
    assert rest.json()["payment"]["refunded"] == {"amount": 5000, "currency": "EUR"}
    refunds = stripe_client(settings).v1.refunds.list(params={"limit": 100}).data
    [intent] = intents_for(settings, order["id"])
    assert sorted(r.amount for r in refunds if r.payment_intent == intent.id) == [1500, 3500]


async def test_cancel_and_ship_racing_on_one_order_exactly_one_wins(
    api: httpx.AsyncClient,
    settings: Settings,
) -> None:
    import asyncio

    headers, op = await customer(api), await operator(api)
    order = (
        await api.post("/v1/orders", json=order_body({"TSHIRT-BLUE-L": 1}), headers=headers)
    ).json()
    await wait_for_status(api, headers, order["id"], "confirmed")

    cancel, ship = await asyncio.gather(
        api.post(f"/v1/orders/{order['id']}/cancel", headers=headers, json={"reason": "x"}),
        api.post(
            f"/v1/orders/{order['id']}/shipments",
            headers=op,
            json={"carrier": "DHL", "tracking_number": "2"},
        ),
    )

    assert sorted([cancel.status_code, ship.status_code]) == [200, 409]
    final = (await api.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    [intent] = intents_for(settings, order["id"])
    expected = "succeeded" if ship.status_code == 200 else "canceled"
    assert intent.status == expected
    assert final["status"] == ("shipped" if ship.status_code == 200 else "cancelled")


async def test_approve_and_reject_only_while_under_review(api: httpx.AsyncClient) -> None:
    headers, op = await customer(api), await operator(api)
    big = (
        await api.post("/v1/orders", json=order_body({"ESPRESSO-MACHINE": 1}), headers=headers)
    ).json()
    small = (await api.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers=headers)).json()
    await wait_for_status(api, headers, big["id"], "under_review")
    await wait_for_status(api, headers, small["id"], "confirmed")

    assert (
        await api.post(f"/v1/orders/{small['id']}/approve", headers=op, json={})
    ).status_code == 409
    assert (
        await api.post(f"/v1/orders/{big['id']}/approve", headers=headers, json={})
    ).status_code == 403
    approved = await api.post(f"/v1/orders/{big['id']}/approve", headers=op, json={})
    assert approved.json()["status"] == "confirmed"
    assert (
        await api.post(f"/v1/orders/{big['id']}/reject", headers=op, json={"reason": "late"})
    ).status_code == 409


async def test_reconciliation_finds_a_capture_planted_directly_in_stripe(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
) -> None:
    headers, op = await customer(api), await operator(api)
    order = (await api.post("/v1/orders", json=order_body({"MUG-LOGO": 1}), headers=headers)).json()
    await wait_for_status(api, headers, order["id"], "confirmed")
    [intent] = intents_for(settings, order["id"])
    stripe_client(settings).v1.payment_intents.capture(intent.id)  # behind the engine's back

    result = await temporal.execute_workflow(
        ReconciliationWorkflow.run,
        ReconcileInput(),
        id=f"reconciliation-{uuid.uuid4()}",
        task_queue="payments",
    )

    assert result.mismatches >= 1
    report = await api.get("/v1/payments/reconciliation", headers=op)
    assert report.status_code == 200
    planted = [m for m in report.json()["mismatches"] if m["order_id"] == order["id"]]
    assert planted == [
        {
            "kind": "captured_not_shipped",
            "order_id": order["id"],
            "payment_intent_id": intent.id,
            "detail": "captured by the provider but the order is confirmed",
        }
    ]
    assert (await api.get("/v1/payments/reconciliation", headers=headers)).status_code == 403


async def test_the_payments_worker_takes_its_stripe_rate_from_settings(
    settings: Settings,
) -> None:
    """Temporal enforces the rate per task queue, across every payments worker."""
    client = await connect(settings)  # the session's own payments worker holds `temporal`
    worker = await payments.build(
        client, settings.model_copy(update={"stripe_rate_per_second": 3.5})
    )

    assert worker.config()["max_task_queue_activities_per_second"] == 3.5
    assert worker.task_queue == "payments"
