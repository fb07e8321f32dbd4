"""What goes in and out of the order and payment workflows: inputs, commands, reports and
results, as plain pydantic models.

They live outside the workflow modules on purpose. The sandbox imports a workflow's own
module afresh for every run it starts, so models defined there were rebuilt (pydantic class
construction, schema and validators) for every order, payment and notification; this module
is imported once per process and passed through the sandbox (it has no side effects and
holds no state).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel

from activities.orders import LineRequest
from activities.records import OrderRecord
from domain.policy import DEFAULTS
from workflows.names import NOTIFICATIONS_QUEUE, PAYMENTS_QUEUE

# --- OrderWorkflow ------------------------------------------------------------------------


class AddressInput(BaseModel):
    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


class OrderPolicy(BaseModel):
    """Thresholds and timeouts from Settings, fixed in the history when the order starts
    (their defaults: domain/policy.py)."""

    review_threshold: int = DEFAULTS.review_threshold
    review_timeout: timedelta = DEFAULTS.review_timeout
    payment_action_timeout: timedelta = DEFAULTS.payment_action_timeout
    fulfillment_timeout: timedelta = DEFAULTS.fulfillment_timeout
    delivery_timeout: timedelta = DEFAULTS.delivery_timeout
    operator_email: str = "operator@example.com"
    refund_window: timedelta = DEFAULTS.refund_window
    """The return window (setting `RETURN_WINDOW`): returns and refunds after delivery."""
    return_receive_timeout: timedelta = DEFAULTS.return_receive_timeout
    channels: list[str] = ["email"]
    """Read only by histories from before the notify-per-event patch: the channels then
    came with the order (now the notification picks them, activities/channels.py)."""
    payments_queue: str = PAYMENTS_QUEUE
    notifications_queue: str = NOTIFICATIONS_QUEUE


class PlaceOrderInput(BaseModel):
    order_id: str
    customer_id: str
    lines: list[LineRequest]
    shipping_address: AddressInput
    payment_method: str
    policy: OrderPolicy


class Rejection(BaseModel):
    """Why an order was never accepted; the API answers it again for a replayed key."""

    type: str
    message: str
    skus: list[str] = []


class OrderState(BaseModel):
    """What the workflow knows; updates answer with it once the read model is written."""

    order_id: str
    status: str
    payment_status: str
    version: int
    record: OrderRecord | None = None
    """The order as last written to the read model, so the API answers without reading it."""
    rejection: Rejection | None = None
    """Set when the order was rejected before acceptance (status `rejected`)."""


class ActorInput(BaseModel):
    """Who asks: `customer` or `operator` and their user id (the timeline shows it)."""

    type: Literal["customer", "operator", "system", "stripe"] = "operator"
    id: str | None = None


class Command(BaseModel):
    """What every order command carries besides its own fields.

    With an `Idempotency-Key` the API derives the update id from the key and the request's
    hash, so Temporal answers a retried command with its first outcome; the workflow keeps
    each key's hash and refuses the key with another request (`idempotency-key-reused`).
    `actor` is None in histories recorded before commands carried it."""

    idempotency_key: str | None = None
    request_hash: str | None = None
    actor: ActorInput | None = None


class CancelCommand(Command):
    reason: str
    by: str = "customer"


class ShipCommand(Command):
    carrier: str
    tracking_number: str
    lines: list[LineRequest] | None = None
    """None ships every unshipped unit."""


class DeliverCommand(Command):
    reason: str = ""
    shipment_id: str | None = None
    """None delivers every shipment."""


class EditCommand(Command):
    """New, lower quantities; 0 removes the line. Lines not named stay as they are."""

    lines: list[LineRequest]
    reason: str = ""


class OpenReturnCommand(Command):
    lines: list[LineRequest]
    reason: str


class ReceiveReturnCommand(Command):
    return_id: str
    restock: bool = True


class RejectReturnCommand(Command):
    return_id: str
    reason: str


class RefundCommand(Command):
    amount: int | None = None
    """Minor units; None refunds the rest."""
    reason: str = ""


class Decision(Command):
    reason: str = ""


# --- PaymentWorkflow ----------------------------------------------------------------------


class PaymentInput(BaseModel):
    order_id: str
    customer_id: str
    amount: int
    currency: str
    payment_method: str
    action_timeout: timedelta


class PaymentReport(BaseModel):
    """An outcome the order acts on."""

    kind: Literal[
        "authorized",
        "action_required",
        "failed",
        "expired",
        "captured",
        "capture_failed",
        "voided",
        "void_failed",
        "refunded",
        "refund_failed",
    ]
    intent_id: str | None = None
    amount: int = 0
    client_secret: str | None = None
    reason: str | None = None


class PaymentCommand(BaseModel):
    kind: Literal["capture", "void", "refund", "close"]
    amount: int = 0


class PaymentWebhook(BaseModel):
    """A verified Stripe event about this payment's intent: a prompt to re-read it."""

    event_id: str
    type: str


class PaymentSummary(BaseModel):
    order_id: str
    status: str
    intent_id: str | None
    authorized: int
    captured: int
    refunded: int = 0
