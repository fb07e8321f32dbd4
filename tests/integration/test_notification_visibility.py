"""GET /v1/orders/{id}/notifications: a delivery's last error (internal hosts, merchant URLs
with tokens, provider answers) and the operators' `review_required` email are for operators;
the owner sees the status and attempt count of the messages about the order."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.tables import notifications
from tests.integration.helpers import customer, operator, order_body, wait_for_status

pytestmark = pytest.mark.integration

SMTP_ERROR = "SMTPConnectError: smtp.internal.example:25 refused"
WEBHOOK_ERROR = "HTTP 500 from https://merchant.example.com/hooks?token=s3cr3t: upstream body"


async def test_only_operators_see_delivery_errors_and_the_review_email(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner = await customer(api)
    placed = await api.post("/v1/orders", json=order_body({"TSHIRT-BLUE-M": 1}), headers=owner)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await wait_for_status(api, owner, order_id, "confirmed")
    rows = [
        {"event": "review_required", "channel": "email", "status": "failed", "attempts": 9,
         "last_error": SMTP_ERROR},
        {"event": "order_delivered", "channel": "webhook", "status": "pending", "attempts": 7,
         "last_error": WEBHOOK_ERROR},
    ]  # fmt: skip
    async with engine.begin() as conn:
        for row in rows:
            await conn.execute(insert(notifications).values(order_id=order_id, **row))
    try:
        as_owner = await api.get(f"/v1/orders/{order_id}/notifications", headers=owner)
        as_operator = await api.get(
            f"/v1/orders/{order_id}/notifications", headers=await operator(api)
        )
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                delete(notifications).where(
                    notifications.c.order_id == order_id,
                    notifications.c.event.in_(["review_required", "order_delivered"]),
                )
            )

    assert as_owner.status_code == as_operator.status_code == 200
    seen = as_owner.json()
    assert "review_required" not in {d["event"] for d in seen}
    assert all(d["last_error"] is None for d in seen)
    [webhook] = [d for d in seen if d["event"] == "order_delivered"]
    assert (webhook["status"], webhook["attempts"]) == ("pending", 7)
    assert "s3cr3t" not in as_owner.text and "smtp.internal" not in as_owner.text

    by_event = {d["event"]: d for d in as_operator.json()}
    assert by_event["review_required"]["last_error"] == SMTP_ERROR
    assert by_event["order_delivered"]["last_error"] == WEBHOOK_ERROR
