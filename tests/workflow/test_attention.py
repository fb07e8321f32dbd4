"""A step that keeps failing is flagged `NeedsAttention` with its last error in the workflow's
current details, and both clear when it succeeds: for a local activity (the order's
PostgreSQL steps) and a regular one (a notification's send), with the workers' interceptor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import DeliveryResult, FailureInput, NotificationRequest
from activities.orders import LineRequest, RecordOrderInput
from tests.workflow.fakes import Fakes
from tests.workflow.harness import ADDRESS, Harness, wait_status
from workers.attention import AttentionInterceptor
from workflows.contracts import CancelCommand, PlaceOrderInput
from workflows.names import NEEDS_ATTENTION
from workflows.notification import NotificationWorkflow, notification_id
from workflows.order import OrderWorkflow
from workflows.payment import PaymentWorkflow

AFTER = 5
DB_ERROR = "connection to server at db.internal failed: Connection refused (user=ops@example.com)"


@dataclass
class Outage:
    """A dependency that is down until the test brings it back."""

    down: bool = True
    failures: int = 0

    def check(self, error: Exception) -> None:
        if self.down:
            self.failures += 1
            raise error


@asynccontextmanager
async def order_workers(
    env: WorkflowEnvironment, fakes: Fakes, db: Outage
) -> AsyncIterator[Harness]:
    """The three queues' workers with the interceptor; `record_order` fails while `db` is
    down (retried every 50 ms, so the test does not wait out the database backoff)."""
    acts: dict[str, list[Any]] = fakes.activities()
    record = next(fn for fn in acts["orders"] if fn.__name__ == "record_order")

    @activity.defn(name="record_order")
    async def record_order(inp: RecordOrderInput) -> list[str] | None:
        db.check(
            ApplicationError(
                f"{DB_ERROR}\n[SQL: INSERT INTO orders ...]\n[parameters: ('1 Main St', 'London')]",
                type="OperationalError",
                next_retry_delay=timedelta(milliseconds=50),
            )
        )
        return await record(inp)  # type: ignore[no-any-return]

    acts["orders"] = [fn for fn in acts["orders"] if fn is not record] + [record_order]
    workflows: dict[str, list[type]] = {
        "orders": [OrderWorkflow],
        "payments": [PaymentWorkflow],
        "notifications": [NotificationWorkflow],
    }
    queues = {name: f"{name}-{uuid.uuid4()}" for name in workflows}
    async with AsyncExitStack() as stack:
        for name, queue in queues.items():
            worker = Worker(
                env.client,
                task_queue=queue,
                workflows=workflows[name],
                activities=acts[name],
                interceptors=[AttentionInterceptor(AFTER)],
            )
            await stack.enter_async_context(worker)
        yield Harness(env, fakes, queues)


async def attention(handle: WorkflowHandle[Any, Any]) -> tuple[str | None, str]:
    """The workflow's `NeedsAttention` and its current details, as the UI shows them."""
    described = await handle.describe()
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return described.typed_search_attributes.get(NEEDS_ATTENTION), metadata.current_details


async def until(handle: WorkflowHandle[Any, Any], step: str | None) -> tuple[str | None, str]:
    """Poll in real time: local activities retry in the worker, not on the server's clock."""
    deadline = asyncio.get_running_loop().time() + 20
    seen = await attention(handle)
    while asyncio.get_running_loop().time() < deadline:
        if seen[0] == step:
            return seen
        await asyncio.sleep(0.1)
        seen = await attention(handle)
    raise AssertionError(f"NeedsAttention never became {step!r}; still {seen}")


async def test_a_local_database_step_failing_is_flagged_then_cleared_when_it_succeeds(
    time_env: WorkflowEnvironment,
) -> None:
    db = Outage(down=False)
    async with order_workers(time_env, Fakes(), db) as harness:
        order_id = uuid.uuid4().hex[:12]
        handle: WorkflowHandle[Any, Any] = await time_env.client.start_workflow(
            OrderWorkflow.run,
            PlaceOrderInput(
                order_id=order_id,
                customer_id="cus_1",
                lines=[LineRequest(sku="TSHIRT", quantity=1)],
                shipping_address=ADDRESS,
                payment_method="pm_card_visa",
                policy=harness.policy(),
            ),
            id=f"order-{order_id}",
            task_queue=harness.queues["orders"],
            # A signal reaches a workflow task busy with local activity retries when the task
            # heartbeats (at 80 % of this timeout; 10 s by default): 2 s keeps the test short.
            task_timeout=timedelta(seconds=2),
        )
        await wait_status(handle, "confirmed")
        db.down = True
        cancelling = asyncio.create_task(
            handle.execute_update(OrderWorkflow.cancel, CancelCommand(reason="changed my mind"))
        )

        _, details = await until(handle, "record_order")

        assert db.failures >= AFTER
        assert details.startswith("**needs attention**: `record_order` has failed ")
        assert "OperationalError: connection to server at db.internal failed" in details
        assert "<email>" in details and "ops@example.com" not in details
        assert "Main St" not in details  # the statement's parameters never show
        assert "customer cus_1" in details  # the order's own details stay below

        db.down = False
        state = await cancelling
        _, details = await until(handle, None)
        assert state.status == "cancelled"
        assert details.startswith("**cancelled**")
        assert "needs attention" not in details


@dataclass
class Smtp(Outage):
    sent: int = 0


async def test_a_regular_send_failing_is_flagged_then_cleared_when_it_is_sent(
    time_env: WorkflowEnvironment,
) -> None:
    smtp = Smtp()

    @activity.defn(name="send_email")
    async def send_email(request: NotificationRequest) -> DeliveryResult:
        smtp.check(ConnectionRefusedError("smtp.example.net:25 refused the connection"))
        smtp.sent += 1
        return DeliveryResult(status="sent")

    @activity.defn(name="mark_failed")
    async def mark_failed(inp: FailureInput) -> None:
        raise AssertionError("the delivery must not fail")

    queue = f"notifications-{uuid.uuid4()}"
    order_id = uuid.uuid4().hex[:12]
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[NotificationWorkflow],
        activities=[send_email, mark_failed],
        interceptors=[AttentionInterceptor(AFTER)],
    ):
        handle = await time_env.client.start_workflow(
            NotificationWorkflow.run,
            NotificationRequest(order_id=order_id, event="order_shipped", channel="email"),
            id=notification_id(order_id, "order_shipped", "email"),
            task_queue=queue,
        )
        await time_env.sleep(timedelta(minutes=2))  # 2 + 4 + 8 + 16 s of backoff, and more

        step, details = await attention(handle)

        assert smtp.failures >= AFTER
        assert step == "send_email"
        assert "`send_email` has failed" in details
        assert "ConnectionRefusedError: smtp.example.net:25 refused the connection" in details

        smtp.down = False
        result = await handle.result()
        step, details = await attention(handle)

        assert result.status == "sent" and smtp.sent == 1
        assert step is None
        assert details == ""
