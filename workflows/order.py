"""OrderWorkflow: one order's whole life (docs/orders.md), id `order-{order_id}`, queue `orders`.

The `Order` aggregate decides everything (docs/architecture.md); this class interprets: it
hands the aggregate each command, payment report and timer, performs the effects the
aggregate returns (stock steps, payment commands, notifications) in order, gives each
result back with `order.settle`, and once a decision is done makes it visible: read model,
search attributes, details, then notifications.

Pinned: an order finishes on the worker version it started on, so a deploy never runs an
order's history on code it was not started with (docs/architecture.md, "Worker versions").
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.orders import (
        OrderActivities,
        PricedLine,
        ReserveStockInput,
    )
    from domain import commands as cmd
    from domain.errors import (
        DomainError,
        InvalidTransition,
        OutOfStock,
        UnknownProduct,
        UnstorableText,
    )
    from domain.lifecycle import Deadline
    from domain.money import Money
    from domain.orders import Address, Order, OrderLine
    from workflows.attention import AttentionMixin
    from workflows.command_keys import CommandKeys
    from workflows.contracts import (
        OrderState,
        PaymentCommand,
        PaymentInput,
        PaymentReport,
        PlaceOrderInput,
    )
    from workflows.order_commands import OrderCommands
    from workflows.order_steps import (
        FULFILMENT_FROM_AUTHORIZATION,
        ORDER_CODE,
        PAYMENT_ENDS_FIRST,
        VOID_IN_FLIGHT,
        changed,
        db_step,
        perform,
        refusal,
    )
    from workflows.order_view import OrderView, rejected
    from workflows.payment_link import PaymentLink


@workflow.defn
class OrderWorkflow(OrderCommands, AttentionMixin):
    """Orchestrates reservation, payment, review, fulfilment, cancellation and compensation."""

    @workflow.init
    def __init__(self, inp: PlaceOrderInput) -> None:
        self._inp = inp
        self._order: Order | None = None
        self._rejection: ApplicationError | None = None
        self._accepted = False
        self._shown = OrderView(inp, self.with_attention)
        self._payment = PaymentLink()
        self._lock = asyncio.Lock()
        self._keys = CommandKeys()
        self.current_code = False
        """Started with every change in `ORDER_CODE_CHANGES` (workflows/order_steps.changed)."""

    # --- the process --------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: PlaceOrderInput) -> OrderState:
        self.current_code = workflow.patched(ORDER_CODE)  # first: before any step (order_steps)
        if (order := await self._accept()) is None:
            await workflow.wait_condition(workflow.all_handlers_finished)  # `accepted` answers
            assert self._rejection is not None
            return rejected(inp.order_id, self._rejection)
        await self._authorize(order)
        while not order.finished:
            await self._wait_in(order)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._shown.notifying)
        await self._end_payment(order)
        return self.state()

    async def _end_payment(self, order: Order) -> None:
        """Close the payment child (a failed or expired one ends by itself) and, from
        `PAYMENT_ENDS_FIRST` on, wait until it has ended: the order's last workflow task then
        comes after the child's end instead of racing it."""
        if not self._payment.open:
            return
        waits = workflow.patched(PAYMENT_ENDS_FIRST)
        if not order.payment.ends_by_itself:
            await self._payment.send(PaymentCommand(kind="close"))
        if waits:
            await self._payment.ended()

    async def _accept(self) -> Order | None:
        """Reserve and price every line, then place and record the order; the `accepted`
        update answers when this is done."""
        inp = self._inp
        try:
            address = Address(**inp.shipping_address.model_dump())
            address.check()  # before anything is reserved
            reserved = await db_step(
                OrderActivities.reserve_stock,
                ReserveStockInput(order_id=inp.order_id, lines=inp.lines),
                "reserve and price every line",
            )
            if reserved.unknown_skus:
                raise UnknownProduct(skus=reserved.unknown_skus)
            if reserved.out_of_stock:
                raise OutOfStock(skus=reserved.out_of_stock)
            order = await self._place(reserved.lines, address)
        except DomainError as error:
            self._rejection = refusal(error)
            return None
        self._accepted = True
        return order

    async def _place(self, priced: list[PricedLine], address: Address) -> Order:
        """The order from its reserved lines, recorded; a refusal releases the stock."""
        inp = self._inp
        lines = [
            OrderLine(p.sku, p.name, p.quantity, Money(p.unit_price, p.currency)) for p in priced
        ]
        try:
            order, placed = Order.place(inp.order_id, inp.customer_id, lines, address)
            self._order = order
            notify = [n for n in placed.effects if isinstance(n, cmd.Notify)]
            await self._shown.publish(order, notify, strict=True)
            return order
        except (DomainError, ActivityError, ApplicationError) as error:
            await perform(cmd.ReleaseStock(), inp.order_id, self._payment)
            self._order = None
            if isinstance(error, DomainError):
                raise
            raise UnstorableText(f"the order cannot be stored: {error}") from None

    async def _authorize(self, order: Order) -> None:
        """Run the payment child until the aggregate says the authorization is settled."""
        inp = self._inp
        order.payment_started()
        await self._payment.start(
            PaymentInput(
                order_id=order.id,
                customer_id=order.customer_id,
                amount=order.total.amount,
                currency=order.currency,
                payment_method=inp.payment_method,
                action_timeout=inp.policy.payment_action_timeout,
            ),
            inp.policy.payments_queue,
        )
        while True:
            report = await self._payment.next(
                cmd.AUTHORIZATION_OUTCOMES, ended="failed", intent_id=order.payment.intent_id
            )
            async with self._lock:
                outcome = order.authorization_reported(
                    report, inp.policy.review_threshold, workflow.now()
                )
                await self._perform(outcome)
                if outcome.settled:
                    return

    async def _wait_in(self, order: Order) -> None:
        """Wait until a command changes what the order waits for, or its next deadline
        (`Order.deadline`: its status's timer, a shipment's delivery, a return's expiry)
        passes; then the aggregate decides what the deadline means."""
        durations = self._inp.policy.model_dump()
        from_authorization = False
        if order.status.stage.from_authorization and order.authorized_at is not None:
            from_authorization = changed(FULFILMENT_FROM_AUTHORIZATION)

        def deadline() -> Deadline | None:
            return order.deadline(durations, from_authorization=from_authorization)

        waiting = deadline()
        timeout = None
        if waiting is not None:  # never 0: a zero timer is no timer in a history
            timeout = max(waiting.at - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(
                lambda: order.finished or deadline() != waiting, timeout=timeout
            )
            return
        except TimeoutError:
            pass
        async with self._lock:
            if not order.finished and deadline() == waiting:
                await self._perform(order.time_out(waiting, workflow.now()))

    # --- commands (Temporal updates) ----------------------------------------------------------

    @workflow.update
    async def accepted(self) -> OrderState:
        """Update-with-start target: answers once stock is reserved and the order recorded."""
        await workflow.wait_condition(lambda: self._accepted or self._rejection is not None)
        if self._rejection is not None:
            raise self._rejection
        return self.state()

    @workflow.signal
    def payment_report(self, report: PaymentReport) -> None:
        self._payment.reported(report)

    @workflow.query
    def state(self) -> OrderState:
        order = self._order
        return OrderState(
            order_id=self._inp.order_id,
            status=str(order.status) if order else "pending",
            payment_status=str(order.payment.status) if order else "pending",
            version=self._shown.version,
            record=self._shown.recorded,
        )

    def _require_order(self) -> Order:
        if self._order is None:
            raise InvalidTransition("the order is not accepted yet")
        return self._order

    # --- effects ------------------------------------------------------------------------------

    async def _perform(self, outcome: cmd.Outcome) -> None:
        """Perform the outcome's effects in order, settling each with the aggregate; then
        publish the decision and start its notifications. A decision that changed only the
        payment's status is published in histories from the void-in-flight patch on."""
        order = self._require_order()
        pending, notify = list(outcome.effects), []
        recorded, moved = bool(outcome.events), outcome.changed
        while pending:
            effect = pending.pop(0)
            if isinstance(effect, cmd.Notify):
                notify.append(effect)
                continue
            result = await perform(effect, order.id, self._payment)
            follow = order.settle(effect, result, workflow.now())
            pending += follow.effects
            recorded = recorded or bool(follow.events)
        if recorded or (moved and changed(VOID_IN_FLIGHT)):
            await self._shown.publish(order, notify)
