"""How the order workflow performs its steps: PostgreSQL steps and notifications, with the
patches that changed how (each history keeps the way it was recorded with)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.notification_starts import NotificationStart
    from activities.notifications import NotificationRequest
    from activities.orders import (
        UNSTORABLE,
        LineRequest,
        OrderActivities,
        StockInput,
        StockMoveInput,
    )
    from domain import commands as cmd
    from domain.errors import DomainError
    from domain.orders import Order
    from domain.values import Units
    from workflows.contracts import OrderPolicy, PaymentCommand
    from workflows.notification import NotificationWorkflow, event_notification_id, notification_id
    from workflows.payment_link import PaymentLink

A = TypeVar("A")
R = TypeVar("R")

# Patch ids: each changed the commands an order sends; histories from before keep their path.
LOCAL_DB_STEPS = "local-db-steps"
"""PostgreSQL steps run as local activities (in the workflow task, no round trip)."""
STOCK_AFTER_DECISION = "stock-after-decision"
"""Stock moves as a regular activity, only once the decision that asked for it is recorded
(a local activity commits before its workflow task is, so a lost task left phantom moves)."""
BACKGROUND_NOTIFICATIONS = "background-notifications"
"""Notification starts are not awaited one by one."""
FULFILMENT_FROM_AUTHORIZATION = "fulfilment-from-authorization"
"""The fulfilment timer counts from the authorization, not from the confirmation."""
VOID_IN_FLIGHT = "void-in-flight"
"""Cancelling while the payment authorizes asks it to void at once, and a change of the
payment's status alone is published."""
NOTIFY_PER_EVENT = "notify-per-event"
"""One notification per event and occurrence; the notification picks the channels
(activities/channels.py). Before: one per (event, channel) of the order's policy."""
NOTIFY_FROM_RECORD = "notify-from-record"
"""The step recording a decision starts its notifications (activities/notification_starts.py)
instead of the order starting them as children: the order's history no longer holds their
start and completion events, nor the workflow tasks those woke."""

PAYMENT_ENDS_FIRST = "payment-ends-first"
"""The order ends only once its payment child has: ending while the child's end was on its
way failed that last workflow task (`UNHANDLED_COMMAND`), about every second order, and the
order's history was replayed to end it again. Asked by every order whose payment is open at
its end (not in `ORDER_CODE_CHANGES`: it came after)."""

ORDER_CODE = "order-code-2026-12"
"""Patch id, asked first by every order (`OrderWorkflow.run`): an order that has it started on
code that makes every change in `ORDER_CODE_CHANGES`, and takes each without asking its
patch, so its history holds one marker and one search attribute upsert for all of them
instead of one of each per change (docs/performance.md, "One patch for the order's code").
Orders started before ask each patch where they always did. A later change asks its own
patch, for every order."""
ORDER_CODE_CHANGES = frozenset(
    {
        LOCAL_DB_STEPS,
        STOCK_AFTER_DECISION,
        BACKGROUND_NOTIFICATIONS,
        FULFILMENT_FROM_AUTHORIZATION,
        VOID_IN_FLIGHT,
        NOTIFY_PER_EVENT,
        NOTIFY_FROM_RECORD,
    }
)
"""The changes an order started with `ORDER_CODE` takes without asking: those made before
it. Never extend this set (an order started with ORDER_CODE before a change must still ask
for that change)."""


def changed(patch_id: str) -> bool:
    """Whether this order takes the change `patch_id`: `workflow.patched`, answered without
    asking for an order started with every change in `ORDER_CODE_CHANGES`."""
    if patch_id in ORDER_CODE_CHANGES and workflow.instance().current_code:
        return True
    return workflow.patched(patch_id)


DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
)
"""PostgreSQL steps retry until the database is back: nothing is lost while it restarts."""


async def db_step(
    fn: Callable[[Any, A], Awaitable[R]], arg: A, summary: str, *, local: bool = True
) -> R:
    """A short PostgreSQL step: a local activity (retried in the workflow task for 10 s,
    then on a timer, so a database outage never spins), or a regular one when `local` is
    False or in histories from before the patch."""
    if local and changed(LOCAL_DB_STEPS):
        return await workflow.execute_local_activity_method(
            fn,
            arg,
            summary=summary,
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=DB_RETRY,
            local_retry_threshold=timedelta(seconds=10),
        )
    return await workflow.execute_activity_method(
        fn,
        arg,
        summary=summary,
        start_to_close_timeout=timedelta(seconds=15),
        retry_policy=DB_RETRY,
    )


async def stock_step(fn: Callable[[Any, A], Awaitable[R]], arg: A, summary: str) -> R:
    """A stock change: a regular activity, so it happens only once the decision that asked
    for it is recorded (a local activity in histories from before the patch)."""
    after_decision = changed(STOCK_AFTER_DECISION)
    return await db_step(fn, arg, summary, local=not after_decision)


def refusal(error: DomainError) -> ApplicationError:
    """A domain refusal as the update's failure (its `type` is the error's code; the skus
    concerned, if any, are its details)."""
    details = [error.skus] if error.skus else []
    return ApplicationError(str(error), *details, type=error.code, non_retryable=True)


async def perform(effect: cmd.Effect, order_id: str, payment: PaymentLink) -> object:
    """Do what one effect asks and return its result for `Order.settle`."""
    match effect:
        case cmd.ReleaseStock(lines=None):
            inp = StockInput(order_id=order_id)
            return await stock_step(
                OrderActivities.release_stock, inp, "release the reserved stock"
            )
        case cmd.CommitStock(lines=None):
            inp = StockInput(order_id=order_id)
            return await stock_step(OrderActivities.commit_stock, inp, "commit the shipped stock")
        case cmd.ReleaseStock(lines=lines, key=key) | cmd.CommitStock(lines=lines, key=key):
            kind = "release" if isinstance(effect, cmd.ReleaseStock) else "commit"
            return await _move(order_id, kind, lines or (), key or kind)
        case cmd.Restock(lines=lines, key=key):
            return await _move(order_id, "restock", lines, key)
        case cmd.Capture(amount=amount):
            command = PaymentCommand(kind="capture", amount=amount)
            return await payment.ask(
                command, {"captured", "capture_failed"}, ended="capture_failed"
            )
        case cmd.Refund(amount=amount):
            command = PaymentCommand(kind="refund", amount=amount)
            return await payment.ask(command, {"refunded", "refund_failed"}, ended="refund_failed")
        case cmd.Void():
            command = PaymentCommand(kind="void")
            return await payment.ask(command, {"voided", "void_failed"}, ended="void_failed")
        case cmd.RequestVoid():
            if not changed(VOID_IN_FLIGHT):
                return False  # histories from before: the payment's own timer ends it
            await payment.send(PaymentCommand(kind="void"))
            return True
    raise TypeError(f"no way to perform {effect}")


async def _move(order_id: str, kind: str, lines: Units, key: str) -> int:
    """Some units of the order's lines, moved once per key (a regular activity: after the
    decision is recorded)."""
    inp = StockMoveInput(
        order_id=order_id,
        key=key,
        kind=kind,  # type: ignore[arg-type]
        lines=[LineRequest(sku=sku, quantity=quantity) for sku, quantity in lines],
    )
    summary = f"{kind} " + ", ".join(f"{q} {sku}" for sku, q in lines)
    return await db_step(OrderActivities.move_stock, inp, summary[:200], local=False)


def unstorable(error: ActivityError | ApplicationError) -> bool:
    """Whether a step failed because the database will never take its data. A local
    activity's failure arrives as its `ApplicationError` itself, a regular one's wrapped."""
    cause = error.cause if isinstance(error, ActivityError) else error
    return isinstance(cause, ApplicationError) and cause.type == UNSTORABLE


def notification_starts(
    order: Order, notify: list[cmd.Notify], policy: OrderPolicy
) -> list[NotificationStart]:
    """One notification per notified event and occurrence, on every channel it enables."""
    return [
        NotificationStart(
            workflow_id=event_notification_id(order.id, n.event, n.occurrence),
            request=NotificationRequest(
                order_id=order.id,
                event=n.event,
                audience="operator" if n.audience == cmd.Audience.OPERATOR else "customer",
                customer_id=order.customer_id,
                recipient=policy.operator_email if n.audience == cmd.Audience.OPERATOR else None,
                occurrence=n.occurrence,
            ),
            task_queue=policy.notifications_queue,
            summary=f"{n.event} by every channel",
        )
        for n in notify
    ]


async def notify_all(
    order: Order, notify: list[cmd.Notify], policy: OrderPolicy
) -> list[asyncio.Task[None]]:
    """Start the notifications as children, without waiting for them (the order waits for
    the starts before it completes), as histories from before `notify-from-record` do;
    those from before the background patch start them one by one."""
    if changed(NOTIFY_PER_EVENT):
        return [
            asyncio.create_task(_start(start.request, start.workflow_id, policy))
            for start in notification_starts(order, notify, policy)
        ]
    starts = [  # one notification per (event, channel) of the order's policy
        (
            NotificationRequest(order_id=order.id, event=n.event, channel=channel, recipient=to),
            notification_id(order.id, n.event, channel),
        )
        for n in notify
        for channel, to in (
            [("email", policy.operator_email)]
            if n.audience == cmd.Audience.OPERATOR
            else [(channel, None) for channel in policy.channels]
        )
    ]
    if changed(BACKGROUND_NOTIFICATIONS):
        return [asyncio.create_task(_start(request, id_, policy)) for request, id_ in starts]
    for request, id_ in starts:
        await _start(request, id_, policy)
    return []


async def _start(request: NotificationRequest, workflow_id: str, policy: OrderPolicy) -> None:
    try:
        await workflow.start_child_workflow(
            NotificationWorkflow.run,
            request,
            id=workflow_id,
            task_queue=policy.notifications_queue,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"{request.event} by {request.channel or 'every channel'}",
        )
    except WorkflowAlreadyStartedError:  # a replayed transition: delivered once already
        pass
