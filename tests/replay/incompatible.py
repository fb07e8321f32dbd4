"""An incompatible change to OrderWorkflow, for the replay test to catch (sandbox-safe)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.orders import OrderActivities, StockInput
    from domain.orders import Order
    from workflows.contracts import OrderState, PlaceOrderInput
    from workflows.order import OrderWorkflow


@workflow.defn(name="OrderWorkflow")
class ReorderedOrderWorkflow(OrderWorkflow):
    """Releases stock before reserving it: a new first command breaks every history."""

    @workflow.run
    async def run(self, inp: PlaceOrderInput) -> OrderState:
        await workflow.execute_activity_method(
            OrderActivities.release_stock,
            StockInput(order_id=inp.order_id),
            start_to_close_timeout=timedelta(seconds=5),
        )
        return await super().run(inp)


@workflow.defn(name="OrderWorkflow")
class TimerBeforePaymentOrderWorkflow(OrderWorkflow):
    """Waits a second before it starts the payment: where every history that got that far
    starts the payment child, this code starts a timer."""

    @workflow.run
    async def run(self, inp: PlaceOrderInput) -> OrderState:
        return await super().run(inp)

    async def _authorize(self, order: Order) -> None:
        await workflow.sleep(timedelta(seconds=1))
        await super()._authorize(order)
