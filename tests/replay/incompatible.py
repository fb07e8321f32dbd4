"""An incompatible change to OrderWorkflow, for the replay test to catch (sandbox-safe)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.orders import OrderActivities, StockInput
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
