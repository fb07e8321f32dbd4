"""The order process against a model, on random sequences (hypothesis).

Each sequence places one order (its own id and SKUs) and then, at random moments, sends the
customer's and operator's commands as Temporal updates, skips time across the timeouts of
`OrderPolicy`, lets the customer finish or fail 3-D Secure, and restarts the orders or
payments worker (the new worker replays the history from the start). The provider doubles
authorize, decline or ask for 3-D Secure, refuse a capture, void or refund for good, or fail
an activity a few times with a retryable error, as the sequence's script says.

Every update must answer within a few seconds (a hang is a failure: the workflow waits on
nothing), and must agree with the model: a command the order's status allows is taken
(unless the provider refused it for good), one it does not allow is refused. After the steps the
test skips past every timer and checks what must hold whatever happened:

- the order workflow and its payment child have completed (nothing is left waiting);
- the order ended in a final status, or `delivered` once its refund window closed;
- stock: nothing held for the order; an order that never shipped gave every unit back, a
  shipped one committed them and released nothing after the shipment;
- money: captured <= authorized and refunded <= captured at the provider; one capture for a shipped
  order, none otherwise; the order's record agrees with the provider and with the model's refunds;
  an order that ended unshipped holds no authorization (unless the provider refused the void);
- every (order, event, channel) notification was sent at most once;
- the read model's last write is the order's final record, and no version was written twice
  with different contents (a write that the history does not explain).

`MODEL_SEQUENCES` sets the number of sequences (200 by default, about two minutes here).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from domain.payments import IntentStatus
from tests.conftest import BIN, register_search_attributes
from tests.workflow.fake_gateway import Script
from tests.workflow.fakes import Fakes
from tests.workflow.harness import Harness, Order, running
from workflows.contracts import (
    CancelCommand,
    Decision,
    OrderPolicy,
    OrderState,
    PaymentWebhook,
    RefundCommand,
    ShipCommand,
)
from workflows.order import OrderWorkflow
from workflows.payment import PaymentWorkflow

SEQUENCES = int(os.environ.get("MODEL_SEQUENCES", "200"))
ANSWER_WITHIN = 5.0
"""Seconds an update may take: time stands still meanwhile, so a longer wait is a hang."""
ANSWER_AFTER_CRASH = 30.0
"""Seconds an update may take when its worker is restarted under it: a workflow task lost
with its worker is given to another after the task timeout (10 s), as on a real cluster."""
WALL_LIMIT = 60.0
"""Seconds of real time a skip may take before the sequence counts as stuck."""

POLICY = OrderPolicy()
SMALL_PRICE, LARGE_PRICE = 2_500, 150_000  # one large unit puts the order under review
SMALL_STOCK = 3
END = timedelta(days=65)
"""Past every timer an order can have left: fulfilment, delivery and the refund window."""

SPANS = sorted(
    {
        timedelta(minutes=1),
        POLICY.payment_action_timeout - timedelta(minutes=1),
        POLICY.payment_action_timeout + timedelta(minutes=1),
        POLICY.review_timeout - timedelta(hours=1),
        POLICY.review_timeout + timedelta(hours=1),
        POLICY.fulfillment_timeout - timedelta(days=1),
        POLICY.fulfillment_timeout + timedelta(hours=1),
        POLICY.delivery_timeout - timedelta(days=1),
        POLICY.delivery_timeout + timedelta(hours=1),
        POLICY.refund_window + timedelta(hours=1),
    }
)

CANCELLABLE = {"accepted", "payment_action_required", "under_review", "confirmed"}
FINAL = {"cancelled", "payment_failed", "refunded", "rejected"}
TRANSIENT = (
    "reserve_stock",
    "release_stock",
    "commit_stock",
    "record_order",
    "authorize_payment",
    "capture_payment",
    "void_payment",
    "refund_payment",
    "refresh_payment",
    "send_email",
)


# --- the sequences ----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    kind: str
    """cancel, approve, reject, ship, deliver or refund."""
    by: str = "customer"
    amount: int | None = None
    """Refunds: minor units, None for the rest."""
    key: str | None = None
    """Refunds: the Idempotency-Key, if any."""
    restart_while_running: bool = False
    """Restart the orders worker once the update is accepted, before it answers."""


@dataclass(frozen=True)
class Skip:
    span: timedelta


@dataclass(frozen=True)
class Restart:
    queue: str


@dataclass(frozen=True)
class CustomerAction:
    """The customer finishes 3-D Secure (or fails it); a webhook prompts the payment."""

    passed: bool


Step = Command | Skip | Restart | CustomerAction


@dataclass(frozen=True)
class Plan:
    small: int
    """Units of the sequence's small SKU (more than its stock of 3: out of stock)."""
    large: int
    """Units of the large SKU (one puts the order under review)."""
    authorize: str
    refuse: frozenset[str]
    transient: tuple[tuple[str, int], ...]
    steps: tuple[Step, ...]


commands = st.one_of(
    st.builds(
        Command,
        kind=st.sampled_from(["cancel", "approve", "reject", "ship", "ship", "deliver"]),
        by=st.sampled_from(["customer", "operator"]),
        restart_while_running=st.sampled_from([False, False, False, True]),
    ),
    st.builds(
        Command,
        kind=st.just("refund"),
        by=st.just("operator"),
        amount=st.sampled_from([None, 500, 1_000, 2_500, 1_000_000]),
        key=st.sampled_from([None, "k1", "k2"]),
        restart_while_running=st.sampled_from([False, False, False, True]),
    ),
)
steps = st.one_of(
    commands,
    commands,
    commands,
    st.builds(Skip, span=st.sampled_from(SPANS)),
    st.builds(Restart, queue=st.sampled_from(["orders", "orders", "payments"])),
    st.builds(CustomerAction, passed=st.sampled_from([True, True, False])),
)
plans = st.builds(
    Plan,
    small=st.integers(1, SMALL_STOCK + 1),
    large=st.sampled_from([0, 0, 1]),
    authorize=st.sampled_from(["authorize", "authorize", "decline", "three_d_secure"]),
    refuse=st.frozensets(st.sampled_from(["capture", "void", "refund"]), max_size=2).map(
        lambda refused: refused if refused else frozenset()
    ),
    transient=st.lists(
        st.tuples(st.sampled_from(TRANSIENT), st.integers(1, 3)),
        max_size=2,
        unique_by=lambda t: t[0],
    ).map(tuple),
    steps=st.lists(steps, max_size=10).map(tuple),
)


# --- the model ------------------------------------------------------------------------------


@dataclass
class Model:
    """What the order must look like, from the answers the workflow gave so far."""

    plan: Plan
    order_id: str
    skus: dict[str, int]
    status: str = "pending"
    refunded: int = 0
    captured: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    shipped: bool = False
    log: list[str] = field(default_factory=list)

    def expects(self, command: Command) -> bool:
        """Whether the order's status allows the command (before the provider has its say)."""
        status = self.status
        if command.kind == "cancel":
            return status in CANCELLABLE
        if command.kind in {"approve", "reject"}:
            return status == "under_review"
        if command.kind == "ship":
            return status == "confirmed"
        if command.kind == "deliver":
            return status == "shipped"
        if command.key is not None and command.key in self.keys:
            return self.keys[command.key] == request_hash(command)
        if status not in {"shipped", "delivered"}:
            return False
        left = self.captured - self.refunded
        amount = left if command.amount is None else command.amount
        return 0 < amount <= left


def request_hash(command: Command) -> str:
    return f"refund {command.amount}"


class Failure(AssertionError):
    pass


# --- running a sequence ---------------------------------------------------------------------


async def settle(h: Harness, *handles: WorkflowHandle[Any, Any]) -> None:
    """Wait until the workflows have nothing in flight (no workflow task, no activity), so
    the next step sees the state the last one left: time only moves when a step skips it."""
    quiet = 0
    previous: list[int] = []
    for _ in range(300):
        lengths = []
        busy = False
        for handle in handles:
            try:
                description = await handle.describe()
            except RPCError:
                continue
            raw = description.raw_description
            lengths.append(description.history_length)
            running = description.status == WorkflowExecutionStatus.RUNNING
            if running and (raw.HasField("pending_workflow_task") or raw.pending_activities):
                busy = True
        quiet = quiet + 1 if not busy and lengths == previous else 0
        if quiet >= 2:
            return
        previous = lengths
        await asyncio.sleep(0.01)
    raise Failure("the workflows never went quiet")


async def closed(*handles: WorkflowHandle[Any, Any]) -> bool:
    """Whether every one of `handles` has ended (one never started counts as ended)."""
    for handle in handles:
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                return False
        except RPCError:
            continue
    return True


async def skip(h: Harness, span: timedelta, *handles: WorkflowHandle[Any, Any]) -> bool:
    """Skip `span` of workflow time, or less if `handles` all end meanwhile; True when they
    have. The test server's sleep call does not come back once nothing is left to run
    before its target (and the server answers no other time call while it hangs), so the
    sleep is dropped then; the sequence's server is not used for time after that."""
    sleeper = asyncio.create_task(h.env.sleep(span))
    try:
        for _ in range(int(WALL_LIMIT / 0.05)):
            if sleeper.done():
                await sleeper
                return await closed(*handles)
            if await closed(*handles):
                return True
            await asyncio.sleep(0.05)
        raise Failure(f"skipping {span}: nothing ended and the clock never got there")
    finally:
        sleeper.cancel()
        try:
            await sleeper
        except (asyncio.CancelledError, RPCError):
            pass


async def send(h: Harness, handle: Order, command: Command) -> OrderState:
    """Send one command as an update, answered within ANSWER_WITHIN seconds."""
    update: Any
    arg: Any
    if command.kind == "cancel":
        update, arg = OrderWorkflow.cancel, CancelCommand(reason="model", by=command.by)
    elif command.kind == "approve":
        update, arg = OrderWorkflow.approve, Decision(reason="model")
    elif command.kind == "reject":
        update, arg = OrderWorkflow.reject, Decision(reason="model")
    elif command.kind == "ship":
        update, arg = OrderWorkflow.ship, ShipCommand(carrier="DHL", tracking_number="1")
    elif command.kind == "deliver":
        update, arg = OrderWorkflow.deliver, Decision()
    else:
        update, arg = (
            OrderWorkflow.refund,
            RefundCommand(
                amount=command.amount,
                reason="model",
                idempotency_key=command.key,
                request_hash=request_hash(command) if command.key else None,
            ),
        )
    update_id = f"{command.kind}-{uuid.uuid4().hex[:8]}"
    limit = ANSWER_AFTER_CRASH if command.restart_while_running else ANSWER_WITHIN

    async def answer() -> OrderState:
        if not command.restart_while_running:
            return cast(OrderState, await handle.execute_update(update, arg, id=update_id))
        started = await handle.start_update(
            update, arg, id=update_id, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await h.restart("orders")
        return cast(OrderState, await started.result())

    try:
        return await asyncio.wait_for(answer(), timeout=limit)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise Failure(f"{command} got no answer in {limit} s (waiting on nothing)") from None


async def run_sequence(h: Harness, plan: Plan) -> None:
    fakes = h.fakes
    order_id = f"m{uuid.uuid4().hex[:10]}"
    small, large = f"S-{order_id}", f"L-{order_id}"
    fakes.stock.update({small: SMALL_STOCK, large: 1})
    fakes.prices.update({small: SMALL_PRICE, large: LARGE_PRICE})
    fakes.scripts[order_id] = Script(
        authorize=plan.authorize, refuse=plan.refuse, transient=dict(plan.transient)
    )
    lines = {small: plan.small} | ({large: plan.large} if plan.large else {})
    model = Model(plan, order_id, {small: SMALL_STOCK, large: 1})
    client = h.env.client
    payment = client.get_workflow_handle(f"payment-{order_id}")
    handle: Order = client.get_workflow_handle_for(
        OrderWorkflow.run,
        f"order-{order_id}",
    )

    def log(text: str) -> None:
        model.log.append(text)
        note(text)

    try:
        _, accepted = await asyncio.wait_for(
            h.place(lines, order_id=order_id), timeout=ANSWER_WITHIN
        )
        model.status = accepted.status
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        assert isinstance(cause, ApplicationError) and cause.type == "out-of-stock", error
        assert plan.small > SMALL_STOCK, f"refused with stock to spare: {cause}"
        model.status = "rejected"
    except TimeoutError:
        raise Failure("placing the order got no answer (waiting on nothing)") from None
    else:
        assert plan.small <= SMALL_STOCK, "accepted more than the stock"
    log(f"placed {lines}: {model.status}")

    for step in plan.steps if model.status != "rejected" else ():
        await settle(h, handle, payment)
        model.status = (await handle.query(OrderWorkflow.state)).status
        if isinstance(step, Skip):
            if await skip(h, step.span, handle, payment):
                log(f"{step}: the order and its payment ended")
                break
        elif isinstance(step, Restart):
            await h.restart(step.queue)
        elif isinstance(step, CustomerAction):
            intent = fakes.intents.get(order_id)
            if intent is not None and intent.status == IntentStatus.ACTION_REQUIRED:
                (fakes.complete_action if step.passed else fakes.fail_action)(order_id)
            try:
                await payment.signal(
                    PaymentWorkflow.provider_event,
                    PaymentWebhook(event_id=f"evt_{uuid.uuid4().hex[:8]}", type="payment_intent"),
                )
            except RPCError:
                pass  # the payment is over; the provider's webhook finds nobody to prompt
        else:
            await command(h, handle, model, step)
        log(f"{step} -> {model.status}")

    try:
        await check_end(h, handle, payment, model)
    finally:  # a broken sequence must not keep the clock busy for the next ones
        for wf in (handle, payment):
            try:
                await wf.terminate("the model test is done with this order")
            except RPCError:
                pass


async def command(h: Harness, handle: Order, model: Model, step: Command) -> None:
    expected = model.expects(step)
    before = model.status
    if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
        try:  # the process is over: nothing takes commands any more
            state = await send(h, handle, step)
        except (WorkflowUpdateFailedError, RPCError):
            return
        raise Failure(f"{step} was taken after the workflow ended: {state.status}")
    try:
        state = await send(h, handle, step)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        kind = cause.type if isinstance(cause, ApplicationError) else repr(cause)
        refused_by_provider = {"ship": "capture", "refund": "refund"}.get(step.kind)
        if expected and refused_by_provider not in model.plan.refuse:
            raise Failure(f"{step} refused ({kind}: {cause}) while {before}") from None
        if expected:
            assert kind in {"payment-capture-failed", "refund-failed"}, (step, kind)
        return
    if not expected:
        raise Failure(f"{step} was taken while {before}: now {state.status}")
    model.status = state.status
    if step.kind == "refund":
        replayed = step.key is not None and step.key in model.keys
        if not replayed:
            left = model.captured - model.refunded
            model.refunded += left if step.amount is None else step.amount
            if step.key is not None:
                model.keys[step.key] = request_hash(step)
        assert state.record is not None
        assert state.record.refunded == model.refunded, (state.record.refunded, model.refunded)
        assert state.status == ("refunded" if model.refunded == model.captured else before)
        return
    after = {
        "cancel": "cancelled",
        "reject": "cancelled",
        "approve": "confirmed",
        "ship": "shipped",
        "deliver": "delivered",
    }[step.kind]
    assert state.status == after, f"{step} answered {state.status}, expected {after}"
    if step.kind == "ship":
        assert state.record is not None
        model.shipped = True
        model.captured = state.record.captured


async def check_end(
    h: Harness, handle: Order, payment: WorkflowHandle[Any, Any], model: Model
) -> None:
    """Skip past every timer, then check the invariants of the module docstring."""
    fakes = h.fakes
    order_id = model.order_id
    if not await closed(handle, payment) and not await skip(h, END, handle, payment):
        state = await handle.query(OrderWorkflow.state)
        raise Failure(f"the order still runs after every timer, {state.status}")
    description = await handle.describe()
    state = await handle.query(OrderWorkflow.state)
    if description.status == WorkflowExecutionStatus.RUNNING:
        raise Failure(
            f"the order still runs after every timer, {state.status} (waiting on nothing)"
        )
    if description.status != WorkflowExecutionStatus.COMPLETED:
        raise Failure(f"the order workflow ended {description.status}")
    result: OrderState = await handle.result()
    assert result.status in FINAL | {"delivered"}, f"ended {result.status}"

    if result.status != "rejected":
        child = await payment.describe()
        if child.status != WorkflowExecutionStatus.COMPLETED:
            raise Failure(
                f"the payment child is {child.status} after the order ended {result.status}"
            )

    # stock
    assert order_id not in fakes.reserved, f"{fakes.reserved[order_id]} still held"
    settled = [(kind, units) for oid, kind, units in fakes.settlements if oid == order_id]
    kinds = [kind for kind, units in settled if units]
    shipped = "committed" in kinds
    assert shipped == model.shipped, (settled, model.shipped)
    assert "released" not in kinds[kinds.index("committed") :] if shipped else True, settled
    taken = fakes.reservations.get(order_id, {})
    for sku, initial in model.skus.items():
        committed = taken.get(sku, 0) if shipped else 0
        assert fakes.stock[sku] + committed == initial, (sku, fakes.stock[sku], committed)

    # money
    intent = fakes.intents.get(order_id)
    captures = intent.count("capture") if intent else 0
    assert captures == (1 if shipped else 0), f"{captures} captures, shipped={shipped}"
    if intent is not None:
        assert intent.captured <= intent.amount, (intent.captured, intent.amount)
        assert intent.refunded <= intent.captured, (intent.refunded, intent.captured)
        if not shipped and "void" not in model.plan.refuse:
            held = intent.status == IntentStatus.AUTHORIZED
            assert not held, "an unshipped order kept its authorization"
    record = result.record
    if record is not None:
        assert record.captured == (intent.captured if intent else 0), (record.captured, intent)
        assert record.refunded == (intent.refunded if intent else 0), (record.refunded, intent)
        assert record.refunded == model.refunded, (record.refunded, model.refunded)

    # notifications: once each
    sent = [(r.event, r.channel) for r in fakes.sent if r.order_id == order_id]
    assert len(sent) == len(set(sent)), f"sent twice: {sorted(sent)}"

    # the read model
    writes = [w.record for w in fakes.records if w.record.id == order_id]
    if writes:
        differ = {
            name: (value, getattr(record, name))
            for name, value in writes[-1]
            if getattr(record, name) != value
        }
        assert not differ, f"the last write differs from the final record: {differ}"
        by_version: dict[int, dict[str, object]] = {}
        for write in writes:
            contents = write.model_dump(exclude={"updated_at"})
            seen = by_version.setdefault(write.version, contents)
            assert seen == contents, f"version {write.version} written twice, differently"


# --- the test ---------------------------------------------------------------------------------


@asynccontextmanager
async def fresh_harness() -> AsyncIterator[Harness]:
    """A test server and workers of the sequence's own: the server's clock cannot be trusted
    once a sleep was dropped (see `skip`), and a broken sequence must not hold up the next.

    The workers cache no workflow, so every workflow task replays the history from the
    start, as after a crash: a change that is not deterministic fails here at once. Without
    the sandbox, because replaying every task in it (a fresh import of the workflow module
    per task) took half of each sequence's time; the other workflow tests and tests/replay
    run the workflows in the sandbox."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    try:
        await register_search_attributes(env.client)
        async with running(
            env, Fakes(), max_cached_workflows=0, workflow_runner=UnsandboxedWorkflowRunner()
        ) as harness:
            yield harness
    finally:
        await env.shutdown()


@settings(
    max_examples=SEQUENCES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=DirectoryBasedExampleDatabase(
        Path(__file__).resolve().parents[2] / ".pytest_cache" / "hypothesis-order-model"
    ),
    print_blob=True,
)
@given(plan=plans)
async def test_every_sequence_of_commands_timers_and_failures_keeps_the_invariants(
    plan: Plan,
) -> None:
    note(f"plan: {plan}")
    async with fresh_harness() as harness:
        await run_sequence(harness, plan)
