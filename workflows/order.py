"""OrderWorkflow: one order's whole life (docs/orders.md), id `order-{order_id}`, queue `orders`.

The domain `Order` decides every transition; this class only orchestrates: it reserves
stock, runs the payment as a child workflow, waits on timers and operator commands
(updates), compensates on cancellation, and after each transition writes the read model,
upserts search attributes and starts notifications without waiting for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationRequest
    from activities.orders import (
        UNSTORABLE,
        OrderActivities,
        RecordOrderInput,
        ReserveStockInput,
        StockInput,
    )
    from activities.records import LineRecord, OrderRecord, TimelineEntry
    from domain import events as ev
    from domain.errors import DomainError, InvalidTransition, UnstorableText
    from domain.money import Money
    from domain.orders import Address, Order, OrderLine, OrderStatus
    from domain.text import unstorable
    from workflows.attention import AttentionMixin
    from workflows.contracts import (
        CancelCommand,
        Command,
        Decision,
        OrderState,
        PaymentCommand,
        PaymentInput,
        PaymentReport,
        PlaceOrderInput,
        RefundCommand,
        Rejection,
        ShipCommand,
    )
    from workflows.names import CUSTOMER_ID, ORDER_STATUS, ORDER_TOTAL, PAYMENT_STATUS
    from workflows.notification import NotificationWorkflow, notification_id
    from workflows.payment import PaymentWorkflow

A = TypeVar("A")
R = TypeVar("R")

LOCAL_DB_STEPS = "local-db-steps"
"""Patch id: PostgreSQL steps run as local activities (in the workflow task, no round trip
through Temporal); histories from before keep replaying their regular activities."""

BACKGROUND_NOTIFICATIONS = "background-notifications"
"""Patch id: notification children are started without waiting for each start to be
acknowledged, so a transition (and the update that made it) ends one workflow task sooner;
`run` waits for the starts before the order completes."""

STOCK_AFTER_DECISION = "stock-after-decision"
"""Patch id: releasing and committing stock run as regular activities, scheduled only once
the workflow task that decided them is recorded. As local activities they committed before
the decision was durable, so a crash could leave stock released for an order whose retried
task then shipped it."""

VOID_IN_FLIGHT = "void-in-flight"
"""Patch id: cancelling while the payment authorizes or waits for 3-D Secure asks the payment
to void the intent at once (it waited up to the action timeout before), and its outcome is
published."""

FULFILMENT_FROM_AUTHORIZATION = "fulfilment-from-authorization"
"""Patch id: the fulfilment timeout counts from the authorization, not from confirmation,
so review and fulfilment together stay inside the card's authorization window."""

DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
)
"""PostgreSQL steps retry until the database is back: nothing is lost while it restarts."""


def _refuse(error: DomainError) -> ApplicationError:
    return ApplicationError(str(error), type=error.code, non_retryable=True)


def _unstorable(error: ActivityError | ApplicationError) -> bool:
    """Whether a step failed because the database will never take its data. A local
    activity's failure arrives as its `ApplicationError` itself, a regular one's wrapped."""
    cause = error.cause if isinstance(error, ActivityError) else error
    return isinstance(cause, ApplicationError) and cause.type == UNSTORABLE


_FREE_TEXT = {"reason": True, "carrier": False, "tracking_number": False}
"""Command fields that reach the database, and whether each may span lines."""


@workflow.defn
class OrderWorkflow(AttentionMixin):
    """Orchestrates reservation, payment, review, fulfilment, cancellation and compensation."""

    @workflow.init
    def __init__(self, inp: PlaceOrderInput) -> None:
        self._inp = inp
        self._order: Order | None = None
        self._rejection: ApplicationError | None = None
        self._accepted = False
        self._seq = 0
        self._published = 0
        self._created_at: datetime = workflow.now()
        self._payment_status = "pending"
        self._intent_id: str | None = None
        self._client_secret: str | None = None
        self._reports: list[PaymentReport] = []
        self._payment: workflow.ChildWorkflowHandle[PaymentWorkflow, object] | None = None
        self._lock = asyncio.Lock()
        self._command_keys: dict[str, str | None] = {}
        self._notifying: list[asyncio.Task[None]] = []
        self._recorded: OrderRecord | None = None
        self._payment_done = False
        self._payment_ended = ""
        self._void_requested = False
        self._authorized_at: datetime | None = None
        self._closing = False
        self._unrecorded: str | None = None

    # --- the process --------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: PlaceOrderInput) -> OrderState:
        if not await self._accept():
            await workflow.wait_condition(workflow.all_handlers_finished)  # `accepted` answers
            rejection = self._rejection
            assert rejection is not None
            return OrderState(
                order_id=inp.order_id,
                status="rejected",
                payment_status="none",
                version=0,
                rejection=Rejection(
                    type=rejection.type or "invalid-order",
                    message=rejection.message,
                    skus=list(rejection.details[0]) if rejection.details else [],
                ),
            )
        order = self._require_order()
        await self._authorize(order)
        while not order.status.is_final:
            if not await self._wait_in(order):
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._notifying)
        if (
            self._payment is not None
            and not self._payment_done
            and self._payment_status not in {"failed", "expired"}
        ):
            await self._payment_command(PaymentCommand(kind="close"))
        return self.state()

    async def _accept(self) -> bool:
        """Reserve and price every line; the `accepted` update answers when this is done."""
        inp = self._inp
        for name, value in inp.shipping_address.model_dump().items():
            if value is not None and (char := unstorable(value)):
                self._rejection = _refuse(
                    UnstorableText(f"shipping_address.{name} holds {char}, which is not stored")
                )
                return False
        reserved = await self._db_step(
            OrderActivities.reserve_stock,
            ReserveStockInput(order_id=inp.order_id, lines=inp.lines),
            "reserve and price every line",
        )
        if reserved.unknown_skus:
            self._rejection = ApplicationError(
                f"unknown sku: {', '.join(reserved.unknown_skus)}",
                reserved.unknown_skus,
                type="unknown-product",
                non_retryable=True,
            )
            return False
        if reserved.out_of_stock:
            self._rejection = ApplicationError(
                f"out of stock: {', '.join(reserved.out_of_stock)}",
                reserved.out_of_stock,
                type="out-of-stock",
                non_retryable=True,
            )
            return False
        lines = [
            OrderLine(p.sku, p.name, p.quantity, Money(p.unit_price, p.currency))
            for p in reserved.lines
        ]
        try:
            self._order = Order.place(
                inp.order_id,
                inp.customer_id,
                lines,
                Address(**inp.shipping_address.model_dump()),
            )
        except DomainError as error:
            await self._release_stock()
            self._rejection = _refuse(error)
            return False
        try:
            await self._publish(strict=True)
        except (ActivityError, ApplicationError) as error:  # the database will never take it
            await self._release_stock()
            self._rejection = _refuse(UnstorableText(f"the order cannot be stored: {error}"))
            return False
        self._accepted = True
        return True

    async def _authorize(self, order: Order) -> None:
        """Run the payment child until it authorizes, fails or the customer gives up."""
        inp = self._inp
        self._payment_status = "authorizing"
        self._payment = await workflow.start_child_workflow(
            PaymentWorkflow.run,
            PaymentInput(
                order_id=order.id,
                customer_id=order.customer_id,
                amount=order.total.amount,
                currency=order.currency,
                payment_method=inp.payment_method,
                action_timeout=inp.policy.payment_action_timeout,
            ),
            id=f"payment-{order.id}",
            task_queue=inp.policy.payments_queue,
            static_summary=f"Payment for order {order.id}",
        )
        self._watch_payment()
        kinds = {"authorized", "action_required", "failed", "expired", "voided", "void_failed"}
        while True:
            report = await self._next_report(kinds, ended="failed")
            async with self._lock:
                if order.status.is_final:  # cancelled while the payment was in flight
                    self._intent_id = report.intent_id or self._intent_id
                    if report.kind == "action_required":
                        continue  # it authorizes, fails, expires or voids (on request) later
                    if report.kind == "authorized" and self._void_requested:
                        continue  # the void asked for at the cancel is reported next
                    if report.kind in {"failed", "expired"}:
                        self._payment_status = report.kind
                        self._client_secret = None
                        if workflow.patched(VOID_IN_FLIGHT):
                            await self._publish()
                    if report.kind in {"voided", "void_failed"}:
                        self._client_secret = None
                        self._apply_void(report)
                        await self._publish()
                    if report.kind == "authorized":
                        self._payment_status = "authorized"
                        await self._void()
                        await self._publish()
                    return
                self._intent_id = report.intent_id or self._intent_id
                if report.kind == "action_required":
                    self._payment_status = "action_required"
                    self._client_secret = report.client_secret
                    order.require_payment_action()
                    await self._publish()
                    continue
                self._client_secret = None
                if report.kind == "authorized":
                    self._payment_status = "authorized"
                    self._authorized_at = workflow.now()
                    order.authorize(
                        Money(report.amount, order.currency), inp.policy.review_threshold
                    )
                    await self._publish()
                elif report.kind == "expired":
                    self._payment_status = "expired"
                    order.cancel(report.reason or "payment action timed out", by="system")
                    await self._compensate(void=False)
                else:  # declined, or the payment process ended without an authorization
                    self._payment_status = "failed"
                    order.fail_payment(report.reason or "payment failed")
                    await self._compensate(void=False)
                return

    async def _wait_in(self, order: Order) -> bool:
        """Wait in the current status until a command moves the order or its timer fires;
        False when the process is over (a delivered order's refund window closed)."""
        status = order.status
        policy = self._inp.policy
        timeouts = {
            OrderStatus.UNDER_REVIEW: policy.review_timeout,
            OrderStatus.CONFIRMED: policy.fulfillment_timeout,
            OrderStatus.SHIPPED: policy.delivery_timeout,
            OrderStatus.DELIVERED: policy.refund_window,
        }
        timeout = timeouts.get(status)
        if (
            status == OrderStatus.CONFIRMED
            and self._authorized_at is not None
            and workflow.patched(FULFILMENT_FROM_AUTHORIZATION)
        ):
            spent = workflow.now() - self._authorized_at
            timeout = max(policy.fulfillment_timeout - spent, timedelta(seconds=1))
        try:
            await workflow.wait_condition(lambda: order.status != status, timeout=timeout)
            return True
        except TimeoutError:
            pass
        async with self._lock:
            if order.status != status:
                return True
            if status == OrderStatus.DELIVERED:
                self._closing = True  # refunds are refused from here on
                return False
            if status == OrderStatus.SHIPPED:
                order.deliver()
                await self._publish()
            else:
                order.cancel(f"{status} timed out", by="system")
                await self._compensate(void=True)
        return True

    # --- commands (Temporal updates) ------------------------------------------------------

    @workflow.update
    async def accepted(self) -> OrderState:
        """Update-with-start target: answers once stock is reserved and the order recorded."""
        await workflow.wait_condition(lambda: self._accepted or self._rejection is not None)
        if self._rejection is not None:
            raise self._rejection
        return self.state()

    @workflow.update
    async def cancel(self, command: CancelCommand) -> OrderState:
        async with self._lock:
            if self._replayed(command):
                return self.state()
            order = self._require_order()
            try:
                order.cancel(command.reason, command.by)
            except DomainError as error:
                raise _refuse(error) from None
            self._remember(command)
            await self._compensate(void=True)
        return self.state()

    @cancel.validator
    def _validate_cancel(self, command: CancelCommand) -> None:
        if not self._validate_command(command):
            self._check(lambda order: order.ensure_cancellable())

    @workflow.update
    async def approve(self, decision: Decision) -> OrderState:
        async with self._lock:
            if self._replayed(decision):
                return self.state()
            self._check(lambda order: order.approve())
            self._remember(decision)
            await self._publish()
        return self.state()

    @approve.validator
    def _validate_approve(self, decision: Decision) -> None:
        if not self._validate_command(decision):
            self._check_status(OrderStatus.UNDER_REVIEW, "approve")

    @workflow.update
    async def reject(self, decision: Decision) -> OrderState:
        async with self._lock:
            if self._replayed(decision):
                return self.state()
            self._check(lambda order: order.reject(decision.reason or "rejected by operator"))
            self._remember(decision)
            await self._compensate(void=True)
        return self.state()

    @reject.validator
    def _validate_reject(self, decision: Decision) -> None:
        if not self._validate_command(decision):
            self._check_status(OrderStatus.UNDER_REVIEW, "reject")

    @workflow.update
    async def ship(self, command: ShipCommand) -> OrderState:
        """Capture the authorized amount, then mark shipped and commit the stock."""
        async with self._lock:
            if self._replayed(command):
                return self.state()
            order = self._require_order()
            if order.status != OrderStatus.CONFIRMED:
                raise _refuse(InvalidTransition(f"cannot ship an order that is {order.status}"))
            await self._payment_command(PaymentCommand(kind="capture", amount=order.authorized))
            report = await self._next_report({"captured", "capture_failed"}, ended="capture_failed")
            if report.kind == "capture_failed":
                raise ApplicationError(
                    report.reason or "capture failed",
                    type="payment-capture-failed",
                    non_retryable=True,
                )
            self._payment_status = "captured"
            order.ship(command.carrier, command.tracking_number)
            order.record_capture(Money(report.amount, order.currency))
            self._remember(command)
            units = await self._stock_step(
                OrderActivities.commit_stock,
                StockInput(order_id=order.id),
                "commit the shipped stock",
            )
            order.events.append(ev.StockCommitted(units=units))
            await self._publish()
        return self.state()

    @ship.validator
    def _validate_ship(self, command: ShipCommand) -> None:
        if not self._validate_command(command):
            self._check_status(OrderStatus.CONFIRMED, "ship")

    @workflow.update
    async def deliver(self, decision: Decision) -> OrderState:
        async with self._lock:
            if self._replayed(decision):
                return self.state()
            self._check(lambda order: order.deliver())
            self._remember(decision)
            await self._publish()
        return self.state()

    @deliver.validator
    def _validate_deliver(self, decision: Decision) -> None:
        if not self._validate_command(decision):
            self._check_status(OrderStatus.SHIPPED, "deliver")

    @workflow.update
    async def refund(self, command: RefundCommand) -> OrderState:
        """Refund part or all of the captured amount; a full refund ends as refunded."""
        async with self._lock:
            if self._replayed(command):
                return self.state()
            order = self._require_order()
            self._check_open()
            try:
                amount = order.ensure_refundable(
                    None if command.amount is None else Money(command.amount, order.currency)
                )
            except DomainError as error:
                raise _refuse(error) from None
            await self._payment_command(PaymentCommand(kind="refund", amount=amount.amount))
            report = await self._next_report({"refunded", "refund_failed"}, ended="refund_failed")
            if report.kind == "refund_failed":
                raise ApplicationError(
                    report.reason or "refund failed", type="refund-failed", non_retryable=True
                )
            self._remember(command)
            order.refund(amount, command.reason or "refund")
            self._payment_status = (
                "refunded" if order.status == OrderStatus.REFUNDED else "partially_refunded"
            )
            await self._publish()
        return self.state()

    @refund.validator
    def _validate_refund(self, command: RefundCommand) -> None:
        if self._validate_command(command):
            return
        self._check_open()
        order = self._require_order()
        amount = None if command.amount is None else Money(command.amount, order.currency)
        self._check(lambda o: o.ensure_refundable(amount))

    def _validate_command(self, command: Command) -> bool:
        """Checks every command shares: its key (True when it was seen before with the same
        request: then it answers the current state and does nothing) and its free text."""
        if self._replayed(command):
            return True
        for name, multiline in _FREE_TEXT.items():
            value = getattr(command, name, None)
            if isinstance(value, str) and (char := unstorable(value, multiline=multiline)):
                raise _refuse(UnstorableText(f"{name} holds {char}, which is not stored"))
        return False

    def _replayed(self, command: Command) -> bool:
        """An `idempotency_key` seen before: True for the same request, refused for another."""
        key = command.idempotency_key
        if key is None or key not in self._command_keys:
            return False
        if self._command_keys[key] != command.request_hash:
            raise ApplicationError(
                "this Idempotency-Key was used with a different request",
                type="idempotency-key-reused",
                non_retryable=True,
            )
        return True

    def _remember(self, command: Command) -> None:
        if command.idempotency_key:
            self._command_keys[command.idempotency_key] = command.request_hash

    def _check_open(self) -> None:
        if self._closing:
            raise _refuse(InvalidTransition("the refund window has closed"))

    @workflow.signal
    def payment_report(self, report: PaymentReport) -> None:
        self._reports.append(report)

    @workflow.query
    def state(self) -> OrderState:
        order = self._order
        return OrderState(
            order_id=self._inp.order_id,
            status=str(order.status) if order else "pending",
            payment_status=self._payment_status,
            version=self._seq,
            record=self._recorded,
        )

    # --- helpers --------------------------------------------------------------------------

    def _require_order(self) -> Order:
        if self._order is None:
            raise ApplicationError(
                "the order is not accepted yet", type="invalid-state", non_retryable=True
            )
        return self._order

    def _check(self, rule: Callable[[Order], object]) -> None:
        order = self._require_order()
        try:
            rule(order)
        except DomainError as error:
            raise _refuse(error) from None

    def _check_status(self, status: OrderStatus, action: str) -> None:
        order = self._require_order()
        if order.status != status:
            raise _refuse(InvalidTransition(f"cannot {action} an order that is {order.status}"))

    async def _next_report(self, kinds: set[str], *, ended: str) -> PaymentReport:
        """The payment's next report of one of `kinds`; if the payment process ends without
        one (it failed, or someone terminated it), a report of kind `ended` saying so: the
        order never waits on a process that is gone."""
        await workflow.wait_condition(
            lambda: self._payment_done or any(r.kind in kinds for r in self._reports)
        )
        report = next((r for r in self._reports if r.kind in kinds), None)
        if report is None:
            return PaymentReport.model_validate(
                {"kind": ended, "intent_id": self._intent_id, "reason": self._payment_ended}
            )
        self._reports.remove(report)
        return report

    def _watch_payment(self) -> None:
        """Note when the payment child ends, however it ends."""

        async def watch() -> None:
            assert self._payment is not None
            try:
                await self._payment
                self._payment_ended = "the payment process ended"
            except ChildWorkflowError as error:
                self._payment_ended = f"the payment process ended: {error.cause or error}"
            self._payment_done = True

        asyncio.create_task(watch())  # noqa: RUF006 - the workflow's own task, ends with it

    async def _payment_command(self, command: PaymentCommand) -> None:
        """Signal the payment; one that is gone counts as ended (the wait for its report
        then ends at once)."""
        assert self._payment is not None
        if self._payment_done:
            return
        try:
            await self._payment.signal(PaymentWorkflow.command, command)
        except ApplicationError as error:  # ExternalWorkflowExecutionNotFound
            self._payment_ended = f"the payment process ended: {error}"
            self._payment_done = True

    async def _db_step(
        self, fn: Callable[[Any, A], Awaitable[R]], arg: A, summary: str, *, local: bool = True
    ) -> R:
        """A short PostgreSQL step: a local activity (retried in the workflow task for 10 s,
        then on a timer, so a database outage never spins), or a regular one when `local` is
        False or in histories from before the patch."""
        if local and workflow.patched(LOCAL_DB_STEPS):
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

    async def _stock_step(self, fn: Callable[[Any, A], Awaitable[R]], arg: A, summary: str) -> R:
        """A stock change: a regular activity, so it happens only once the decision that
        asked for it is recorded (a local activity in histories from before the patch)."""
        after_decision = workflow.patched(STOCK_AFTER_DECISION)
        return await self._db_step(fn, arg, summary, local=not after_decision)

    async def _release_stock(self) -> int:
        return await self._stock_step(
            OrderActivities.release_stock,
            StockInput(order_id=self._inp.order_id),
            "release the reserved stock",
        )

    async def _compensate(self, *, void: bool) -> None:
        """Undo in reverse order: release stock, then void the authorization if any (or ask
        a payment still in flight to void it: its outcome is published when reported)."""
        order = self._require_order()
        units = await self._release_stock()
        order.events.append(ev.StockReleased(units=units))
        if void and self._payment_status == "authorized":
            await self._void()
        elif (
            void
            and self._payment_status in {"authorizing", "action_required"}
            and workflow.patched(VOID_IN_FLIGHT)
        ):
            self._void_requested = True
            await self._payment_command(PaymentCommand(kind="void"))
        await self._publish()

    async def _void(self) -> None:
        await self._payment_command(PaymentCommand(kind="void"))
        self._apply_void(await self._next_report({"voided", "void_failed"}, ended="void_failed"))

    def _apply_void(self, report: PaymentReport) -> None:
        """A void's outcome; a refusal is recorded for operators and the order goes on."""
        order = self._require_order()
        if report.kind == "voided":
            order.events.append(ev.PaymentVoided())
            self._payment_status = "voided"
        else:
            order.events.append(ev.PaymentVoidFailed(reason=report.reason or "void refused"))
            self._payment_status = "void_failed"

    async def _publish(self, *, strict: bool = False) -> None:
        """Make new events visible: read model, timeline, search attributes, notifications.

        A read-model write the database will never take (it is refused as `unstorable`) is
        shown in the workflow's details and the order goes on; with `strict` it raises."""
        order = self._require_order()
        new = order.events[self._published :]
        self._published = len(order.events)
        now = workflow.now()
        timeline = []
        for event in new:
            self._seq += 1
            timeline.append(
                TimelineEntry(seq=self._seq, type=event.name, at=now, data=event.data())
            )
        self._recorded = self._record(order, now)
        try:
            await self._db_step(
                OrderActivities.record_order,
                RecordOrderInput(record=self._recorded, timeline=timeline),
                f"record {order.status} in the read model",
            )
        except (ActivityError, ApplicationError) as error:
            if strict or not _unstorable(error):
                raise
            self._unrecorded = f"the read model refused {order.status}: {error}"[:300]
            workflow.logger.error("read model write refused", extra={"error": str(error)})
        workflow.upsert_search_attributes(
            [
                ORDER_STATUS.value_set(str(order.status)),
                PAYMENT_STATUS.value_set(self._payment_status),
                CUSTOMER_ID.value_set(order.customer_id),
                ORDER_TOTAL.value_set(order.total.amount),
            ]
        )
        workflow.set_current_details(self._details(order))
        starts: list[tuple[str, str, str | None]] = []
        for event in new:
            if event.notify:
                starts += [(event.notify, channel, None) for channel in self._inp.policy.channels]
            elif isinstance(event, ev.ReviewRequired):
                starts.append(("review_required", "email", self._inp.policy.operator_email))
        if not starts:
            return
        if workflow.patched(BACKGROUND_NOTIFICATIONS):
            self._notifying = [task for task in self._notifying if not task.done()]
            self._notifying += [asyncio.create_task(self._notify(*start)) for start in starts]
            return
        for start in starts:  # histories from before the patch: one start at a time
            await self._notify(*start)

    async def _notify(self, event: str, channel: str, recipient: str | None = None) -> None:
        order_id = self._inp.order_id
        try:
            await workflow.start_child_workflow(
                NotificationWorkflow.run,
                NotificationRequest(
                    order_id=order_id, event=event, channel=channel, recipient=recipient
                ),
                id=notification_id(order_id, event, channel),
                task_queue=self._inp.policy.notifications_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{event} by {channel}",
            )
        except WorkflowAlreadyStartedError:  # a replayed transition: delivered once already
            pass

    def _record(self, order: Order, now: datetime) -> OrderRecord:
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
                )
                for line in order.lines
            ],
            shipping_address=self._inp.shipping_address.model_dump(),
            payment_status=self._payment_status,
            payment_intent_id=self._intent_id,
            client_secret=self._client_secret,
            authorized=order.authorized,
            captured=order.captured,
            refunded=order.refunded,
            shipment=(
                {
                    "carrier": order.shipment.carrier,
                    "tracking_number": order.shipment.tracking_number,
                }
                if order.shipment
                else None
            ),
            version=self._seq,
            decided_at=workflow.info().get_current_history_length(),
            created_at=self._created_at,
            updated_at=now,
        )

    def _details(self, order: Order) -> str:
        policy = self._inp.policy
        waits = {
            OrderStatus.ACCEPTED: "authorizing the payment",
            OrderStatus.PAYMENT_ACTION_REQUIRED: "waiting for the customer's 3-D Secure, "
            f"at most {policy.payment_action_timeout}",
            OrderStatus.UNDER_REVIEW: "waiting for operator review, "
            f"at most {policy.review_timeout}",
            OrderStatus.CONFIRMED: f"waiting for shipment, at most {policy.fulfillment_timeout}",
            OrderStatus.SHIPPED: f"waiting for delivery, at most {policy.delivery_timeout}",
        }
        details = (
            f"**{order.status}** · {order.total} · customer {order.customer_id}\n\n"
            f"{waits.get(order.status, 'finished')}"
        )
        if self._payment_status == "void_failed":
            details += "\n\n**the authorization could not be voided**: check the payment"
        if self._unrecorded:
            details += f"\n\n**not in the read model**: {self._unrecorded}"
        return self.with_attention(details)
