"""What the order workflow shows of an order, once a decision is done: the read model and
its timeline (the step writing it starts the decision's notifications), the search
attributes, the text operators see in the Temporal UI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notification_starts import NotificationStart, NotificationStarts
    from activities.orders import OrderActivities, RecordOrderInput
    from activities.records import (
        ActorRecord,
        LineRecord,
        OrderRecord,
        ReturnRecord,
        ShipmentRecord,
        TimelineEntry,
        UnitsRecord,
    )
    from domain import fulfilment as units
    from domain.commands import Notify
    from domain.lifecycle import PaymentStatus
    from domain.orders import Order
    from domain.values import Units
    from workflows.contracts import OrderPolicy, OrderState, PlaceOrderInput, Rejection
    from workflows.names import CUSTOMER_ID, ORDER_STATUS, ORDER_TOTAL, PAYMENT_STATUS
    from workflows.order_steps import (
        NOTIFY_FROM_RECORD,
        changed,
        db_step,
        notification_starts,
        notify_all,
        unstorable,
    )


class OrderView:
    """Publishes an order's decisions; `version` counts the timeline's events."""

    def __init__(self, inp: PlaceOrderInput, with_attention: Callable[[str], str]) -> None:
        self._inp = inp
        self._with_attention = with_attention
        self._created_at = workflow.now()
        self._published = 0
        self.version = 0
        self.recorded: OrderRecord | None = None
        self.unrecorded: str | None = None
        self.notifying: list[asyncio.Task[None]] = []

    async def publish(self, order: Order, notify: list[Notify], *, strict: bool = False) -> None:
        """Read model and timeline (that step starts the notifications), search attributes,
        details; in histories from before `notify-from-record`, the notifications last.

        A read-model write the database will never take (refused as `unstorable`) is shown
        in the workflow's details and the order goes on. `strict` is placing: a refused
        write raises, and the notifications are started by an activity of their own that
        the `accepted` answer does not wait for (a local one would hold it back: it ends
        before the workflow task does)."""
        new = order.events[self._published :]
        self._published = len(order.events)
        now = workflow.now()
        timeline = [
            TimelineEntry(
                seq=self.version + n,
                type=event.name,
                at=now,
                actor=ActorRecord(type=event.actor.type, id=event.actor.id),
                data=event.data(),
            )
            for n, event in enumerate(new, start=1)
        ]
        self.version += len(new)
        self.recorded = order_record(
            order,
            self._inp.shipping_address.model_dump(),
            version=self.version,
            decided_at=workflow.info().get_current_history_length(),
            created_at=self._created_at,
            now=now,
        )
        from_record = bool(notify) and changed(NOTIFY_FROM_RECORD)
        starts = notification_starts(order, notify, self._inp.policy) if from_record else []
        later = strict and bool(starts)  # placing: `accepted` does not wait for them
        try:
            await db_step(
                OrderActivities.record_order,
                RecordOrderInput(
                    record=self.recorded, timeline=timeline, notify=[] if later else starts
                ),
                f"record {order.status} in the read model",
            )
        except (ActivityError, ApplicationError) as error:
            if strict or not unstorable(error):
                raise
            self.unrecorded = f"the read model refused {order.status}: {error}"[:300]
            workflow.logger.error("read model write refused", extra={"error": str(error)})
            if starts:  # the record step never reached them
                await _start_by_activity(starts)
        if later:  # recorded: the order is placed
            self.notifying.append(asyncio.create_task(_start_by_activity(starts)))
        workflow.upsert_search_attributes(search_attributes(order))
        details = order_details(order, self._inp.policy, self.unrecorded)
        workflow.set_current_details(self._with_attention(details))
        if notify and not from_record:  # histories from before `notify-from-record`
            self.notifying = [task for task in self.notifying if not task.done()]
            self.notifying += await notify_all(order, notify, self._inp.policy)


async def _start_by_activity(starts: list[NotificationStart]) -> None:
    """The notifications started by a regular activity: recorded in the workflow task that
    asks for it, run after that task ends (retried until Temporal takes the starts)."""
    await db_step(NotificationStarts.start, starts, "start the notifications", local=False)


def order_record(
    order: Order,
    address: dict[str, str | None],
    *,
    version: int,
    decided_at: int,
    created_at: datetime,
    now: datetime,
) -> OrderRecord:
    payment = order.payment
    shipped, returned = units.shipped(order.shipments), units.returned(order.returns)
    return OrderRecord(
        id=order.id,
        customer_id=order.customer_id,
        status=str(order.status),
        currency=order.currency,
        total=order.total.amount,
        lines=[
            LineRecord(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price.amount,
                total=line.total.amount,
                shipped=shipped.get(line.sku, 0),
                returned=returned.get(line.sku, 0),
            )
            for line in order.lines
        ],
        shipping_address=address,
        payment_status=str(payment.status),
        payment_intent_id=payment.intent_id,
        client_secret=payment.client_secret,
        authorized=order.authorized,
        captured=order.captured,
        refunded=order.refunded,
        shipment=(
            {"carrier": order.shipment.carrier, "tracking_number": order.shipment.tracking_number}
            if order.shipment
            else None
        ),
        shipments=[
            ShipmentRecord(
                id=s.id,
                carrier=s.carrier,
                tracking_number=s.tracking_number,
                lines=_units(s.lines),
                shipped_at=s.shipped_at or created_at,
                delivered_at=s.delivered_at,
            )
            for s in order.shipments
        ],
        returns=[
            ReturnRecord(
                id=r.id,
                status=str(r.status),
                lines=_units(r.lines),
                reason=r.reason,
                refund=r.refund,
                restock=r.restock,
                requested_at=r.requested_at,
                resolved_at=r.resolved_at,
                resolution=r.resolution,
            )
            for r in order.returns
        ],
        version=version,
        decided_at=decided_at,
        created_at=created_at,
        updated_at=now,
    )


def _units(lines: Units) -> list[UnitsRecord]:
    return [UnitsRecord(sku=sku, quantity=quantity) for sku, quantity in lines]


def order_details(order: Order, policy: OrderPolicy, unrecorded: str | None) -> str:
    """The workflow's current details: status, money, and what it waits for, how long."""
    stage = order.status.stage
    waiting = stage.waiting
    if order.closed and not order.finished:
        waiting = "return window closed; waiting for the open returns"
    elif stage.timer and not order.status.is_final:
        waiting += f", at most {getattr(policy, stage.timer)}"
    progress = "".join(f" · {said}" for said in order.progress())
    details = (
        f"**{order.status}** · {order.total} · customer {order.customer_id}{progress}\n\n{waiting}"
    )
    if order.payment.status == PaymentStatus.VOID_FAILED:
        details += "\n\n**the authorization could not be voided**: check the payment"
    if unrecorded:
        details += f"\n\n**not in the read model**: {unrecorded}"
    return details


def search_attributes(order: Order) -> list[SearchAttributeUpdate[Any]]:
    """What operators filter orders by in the Temporal UI (docs/runbook.md)."""
    return [
        ORDER_STATUS.value_set(str(order.status)),
        PAYMENT_STATUS.value_set(str(order.payment.status)),
        CUSTOMER_ID.value_set(order.customer_id),
        ORDER_TOTAL.value_set(order.total.amount),
    ]


def rejected(order_id: str, error: ApplicationError) -> OrderState:
    """The result of an order never accepted: the API answers its rejection again for a
    replayed key."""
    skus = list(error.details[0]) if error.details else []
    return OrderState(
        order_id=order_id,
        status="rejected",
        payment_status="none",
        version=0,
        rejection=Rejection(type=error.type or "invalid-order", message=error.message, skus=skus),
    )
