"""Stripe webhooks: verified, deduplicated by event id, delivered to the payment workflow.

An event is only a prompt: the payment workflow re-reads the PaymentIntent from Stripe and
acts on its real status (localstripe sends `payment_intent.succeeded` where Stripe sends
`payment_intent.amount_capturable_updated`). The event id is recorded in the same
transaction that signals the workflow, so a failed signal leaves the event unrecorded and
Stripe's redelivery tries again.
"""

from __future__ import annotations

import json

import stripe
import structlog
from fastapi import APIRouter, Header, Request
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ServicesDep
from api.errors import Problem
from workflows.contracts import PaymentWebhook
from workflows.names import payment_workflow_id
from workflows.payment import PaymentWorkflow

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
log = structlog.get_logger()

TOLERANCE_SECONDS = 300


@router.post(
    "/stripe",
    responses={400: {"description": "missing or invalid signature; nothing happened"}},
)
async def stripe_webhook(
    request: Request,
    services: ServicesDep,
    stripe_signature: str | None = Header(default=None),
) -> dict[str, str]:
    payload = await request.body()
    if not stripe_signature:
        raise Problem(400, "invalid-signature", "the Stripe-Signature header is missing")
    secret = services.settings.stripe_webhook_secret.get_secret_value()
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8", errors="replace"),
            stripe_signature,
            secret,
            TOLERANCE_SECONDS,
        )
        event = json.loads(payload)
        event_id, event_type = str(event["id"]), str(event["type"])
        obj = event["data"]["object"]
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError):
        raise Problem(400, "invalid-signature", "the signature does not verify") from None

    if not event_type.startswith("payment_intent.") or not isinstance(obj, dict):
        return {"status": "ignored"}
    intent_id = str(obj.get("id", ""))
    order_id = (obj.get("metadata") or {}).get("order_id")
    if not order_id:
        return {"status": "ignored"}

    try:
        async with services.stripe_events.recording(event_id, event_type, intent_id) as new:
            if not new:
                return {"status": "duplicate"}
            handle = services.temporal.get_workflow_handle(payment_workflow_id(order_id))
            # Any failure rolls the record back: Stripe redelivers and we try again.
            await handle.signal(
                PaymentWorkflow.provider_event, PaymentWebhook(event_id=event_id, type=event_type)
            )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        # No running payment: nothing to prompt, and nothing recorded, so a redelivery after
        # the payment starts still reaches it.
        log.info("stripe_event_without_payment", event_id=event_id, order_id=order_id)
        return {"status": "ignored"}
    log.info("stripe_event_delivered", event_id=event_id, type=event_type, order_id=order_id)
    return {"status": "delivered"}
