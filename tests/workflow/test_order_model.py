"""The order process against a model, on random sequences (hypothesis).

Each sequence places one order (its own id and SKUs) and then, at random moments, sends the
customer's and operator's commands as Temporal updates (cancel, approve, reject, ship all
or some units, deliver every shipment or one, refund, edit, open, receive or reject a
return), skips time across the timeouts of `OrderPolicy`, lets the customer finish or fail
3-D Secure, and restarts the orders or payments worker (the new worker replays the history
from the start). The provider doubles authorize, decline or ask for 3-D Secure, refuse a
capture, void or refund for good, or fail an activity a few times with a retryable error,
as the sequence's script says. Some sequences start partly shipped or delivered, so that
split shipments and returns are reached (tests/workflow/order_model.py).

Every update must answer within a few seconds (a hang is a failure: the workflow waits on
nothing), and must agree with the model: a command the order allows is taken (unless the
provider refused it for good) and answers the status, refund, shipment, edit or return the
model expects; one it does not allow is refused. After the steps the test skips past every
timer and checks what must hold whatever happened:

- the order workflow and its payment child have completed (nothing is left waiting);
- the order ended in a final status, or `delivered` once its return window closed;
- stock, per SKU, each unit counted once: nothing held for the order; the stock is what it
  was less the units shipped plus the units of returns received with restock (no more than
  shipped); nothing released once every unit was committed;
- money: captured <= authorized and refunded <= captured at the provider; one capture for a
  shipped order, of its total at the first shipment, none otherwise; the order's record
  agrees with the provider; an order that ended unshipped holds no authorization (unless
  the provider refused the void);
- notifications: every event the timeline notifies was sent once per occurrence (each
  shipment, refund and return its own), nothing else;
- the read model's kept write (the latest decision, as the store orders them) is the order's
  final record, and no decision was written twice with different contents (a write that
  the history does not explain); a lost task's phantom write, replaced by its retry's, is
  allowed.

`MODEL_SEQUENCES` sets the number of sequences (80 by default, about three and a half
minutes on a 2-core machine, so `make test` stays within 15; a nightly or pre-release run
should set 500 or more).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from hypothesis import HealthCheck, event, given, note, settings
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

from activities.orders import LineRequest
from activities.records import OrderRecord, TimelineEntry
from domain.payments import IntentStatus
from tests.conftest import BIN, register_search_attributes
from tests.workflow.fake_gateway import Script
from tests.workflow.fakes import Fakes
from tests.workflow.harness import WORKFLOWS, Harness, Order
from tests.workflow.order_model import (
    END,
    FINAL,
    LARGE_PRICE,
    PROVIDER_REFUSES,
    SMALL_PRICE,
    SMALL_STOCK,
    Command,
    CustomerAction,
    Model,
    Plan,
    Restart,
    Skip,
    notified,
    plans,
    request_hash,
)
from workers.attention import AttentionInterceptor
from workflows.contracts import (
    ActorInput,
    CancelCommand,
    Decision,
    DeliverCommand,
    EditCommand,
    OpenReturnCommand,
    OrderState,
    PaymentWebhook,
    ReceiveReturnCommand,
    RefundCommand,
    RejectReturnCommand,
    ShipCommand,
)
from workflows.notification import event_notification_id
from workflows.order import OrderWorkflow
from workflows.payment import PaymentWorkflow

SEQUENCES = int(os.environ.get("MODEL_SEQUENCES", "80"))
ANSWER_WITHIN = 5.0
"""Seconds an update may take: time stands still meanwhile, so a longer wait is a hang."""
ANSWER_AFTER_CRASH = 30.0
"""Seconds an update may take when its worker is restarted under it: a workflow task lost
with its worker is given to another after the task timeout (10 s), as on a real cluster."""
WALL_LIMIT = 60.0
"""Seconds of real time a skip may take before the sequence counts as stuck."""


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


CUSTOMER = ActorInput(type="customer", id="cus_1")
OPERATOR = ActorInput(type="operator", id="op_1")


def request(model: Model, command: Command) -> tuple[Any, Any]:
    """The update and its argument, as the API sends them (with who asks)."""
    actor = CUSTOMER if command.by == "customer" else OPERATOR
    lines = [LineRequest(sku=sku, quantity=q) for sku, q in model.units(command.lines).items()]
    match command.kind:
        case "cancel":
            return OrderWorkflow.cancel, CancelCommand(reason="model", by=command.by, actor=actor)
        case "approve" | "reject":
            update = OrderWorkflow.approve if command.kind == "approve" else OrderWorkflow.reject
            return update, Decision(reason="model", actor=OPERATOR)
        case "ship":
            shipped = None if command.lines is None else lines
            ship = ShipCommand(carrier="DHL", tracking_number="1", lines=shipped, actor=OPERATOR)
            return OrderWorkflow.ship, ship
        case "deliver":
            return OrderWorkflow.deliver, DeliverCommand(shipment_id=command.ref, actor=OPERATOR)
        case "edit":
            return OrderWorkflow.edit, EditCommand(lines=lines, reason="model", actor=actor)
        case "open_return":
            opened = OpenReturnCommand(lines=lines, reason="model", actor=actor)
            return OrderWorkflow.open_return, opened
        case "receive_return":
            received = ReceiveReturnCommand(
                return_id=command.ref or "", restock=command.restock, actor=OPERATOR
            )
            return OrderWorkflow.receive_return, received
        case "reject_return":
            rejected = RejectReturnCommand(
                return_id=command.ref or "", reason="model", actor=OPERATOR
            )
            return OrderWorkflow.reject_return, rejected
    refund = RefundCommand(
        amount=command.amount,
        reason="model",
        idempotency_key=command.key,
        request_hash=request_hash(command) if command.key else None,
        actor=OPERATOR,
    )
    return OrderWorkflow.refund, refund


async def send(h: Harness, handle: Order, model: Model, command: Command) -> OrderState:
    """Send one command as an update, answered within ANSWER_WITHIN seconds."""
    update, arg = request(model, command)
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


def timeline(fakes: Fakes, order_id: str) -> list[TimelineEntry]:
    """The order's timeline as written to the read model (a write repeated once counts once)."""
    entries = {e.seq: e for w in fakes.records if w.record.id == order_id for e in w.timeline}
    return [entries[seq] for seq in sorted(entries)]


async def run_sequence(h: Harness, plan: Plan) -> None:
    fakes = h.fakes
    order_id = f"m{uuid.uuid4().hex[:10]}"
    model = Model(plan, order_id, {})
    small, large = model.sku("small"), model.sku("large")
    model.skus = {small: SMALL_STOCK, large: 1}
    fakes.stock.update(model.skus)
    fakes.prices.update({small: SMALL_PRICE, large: LARGE_PRICE})
    fakes.scripts[order_id] = Script(
        authorize=plan.authorize, refuse=plan.refuse, transient=dict(plan.transient)
    )
    lines = {small: plan.small} | ({large: plan.large} if plan.large else {})
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
        state = await handle.query(OrderWorkflow.state)
        model.status, model.record = state.status, state.record
        model.closed = any(e.type == "return_window_closed" for e in timeline(fakes, order_id))
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
    before, record = model.status, model.record
    if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
        try:  # the process is over: nothing takes commands any more
            state = await send(h, handle, model, step)
        except (WorkflowUpdateFailedError, RPCError):
            return
        raise Failure(f"{step} was taken after the workflow ended: {state.status}")
    try:
        state = await send(h, handle, model, step)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        kind = cause.type if isinstance(cause, ApplicationError) else repr(cause)
        if expected and not model.refused_by_provider(step, kind or ""):
            raise Failure(f"{step} refused ({kind}: {cause}) while {before}") from None
        if expected:
            assert kind in PROVIDER_REFUSES, (step, kind)
        return
    if not expected:
        raise Failure(f"{step} was taken while {before}: now {state.status}")
    assert record is not None and state.record is not None
    replayed = step.kind == "refund" and step.key is not None and step.key in model.keys
    if step.key is not None and step.kind == "refund":
        model.keys[step.key] = request_hash(step)
    refund = 0 if replayed else model.refund_of(step)
    new = state.record
    assert new.refunded == record.refunded + refund, (new.refunded, record.refunded, refund)
    if replayed:
        assert state.status == before, (step, state.status, before)
        return
    everything = refund > 0 and new.refunded == new.captured
    after = model.after(step, everything)
    assert state.status == after, f"{step} answered {state.status}, expected {after}"
    answered(model, step, record, new)
    model.status, model.record = state.status, new
    event(f"took {step.kind}" + ("" if step.lines is None or step.kind != "ship" else " (some)"))


def answered(model: Model, step: Command, record: OrderRecord, new: OrderRecord) -> None:
    """What a command the order took changed in its record, as the model expects."""
    asked = model.units(step.lines)
    if step.kind == "ship":
        assert [s.id for s in new.shipments][-1] == f"S-{len(record.shipments) + 1}"
        sent = {u.sku: u.quantity for u in new.shipments[-1].lines}
        left = {line.sku: line.quantity - line.shipped for line in record.lines}
        assert sent == (asked if step.lines is not None else {k: n for k, n in left.items() if n})
        if not record.shipments:  # the first shipment captures the order's total then
            model.first_total = record.total
            assert new.captured == record.total, (new.captured, record.total)
    elif step.kind == "edit":
        quantity = {line.sku: line.quantity for line in record.lines} | asked
        assert {line.sku: line.quantity for line in new.lines} == {
            sku: q for sku, q in quantity.items() if q
        }
    elif step.kind == "open_return":
        opened = new.returns[-1]
        assert (opened.id, opened.status) == (f"R-{len(record.returns) + 1}", "requested")
        assert {u.sku: u.quantity for u in opened.lines} == asked
    elif step.kind in {"receive_return", "reject_return"}:
        (back,) = [r for r in new.returns if r.id == step.ref]
        if step.kind == "reject_return":
            assert back.status == "rejected", back
        else:
            assert (back.status, back.refund, back.restock) == (
                "received",
                model.refund_of(step),
                step.restock,
            ), back


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
    event(f"ended {result.status}")

    if result.status != "rejected":
        child = await payment.describe()
        if child.status != WorkflowExecutionStatus.COMPLETED:
            raise Failure(
                f"the payment child is {child.status} after the order ended {result.status}"
            )
    record = result.record

    # stock, per SKU: shipped units left, received returns' units came back if restocked
    held = fakes.reserved.get(order_id, {})
    assert not any(held.values()), f"{held} still held"
    shipped: Counter[str] = Counter()
    restocked: Counter[str] = Counter()
    for shipment in record.shipments if record else []:
        shipped.update({u.sku: u.quantity for u in shipment.lines})
    for back in record.returns if record else []:
        if back.status == "received" and back.restock:
            restocked.update({u.sku: u.quantity for u in back.lines})
    for sku, initial in model.skus.items():
        assert restocked[sku] <= shipped[sku], (sku, restocked, shipped)
        stock = initial - shipped[sku] + restocked[sku]
        assert fakes.stock[sku] == stock, (sku, fakes.stock[sku], initial, shipped, restocked)
    settled = [(kind, units) for oid, kind, units in fakes.settlements if oid == order_id]
    moved = [kind for kind, units in settled if units]
    if "committed" in moved:  # every unit left was committed: none is released after
        later = moved[moved.index("committed") + 1 :]
        assert not [kind for kind in later if kind.startswith("release")], settled

    # money
    intent = fakes.intents.get(order_id)
    captures = intent.count("capture") if intent else 0
    assert captures == (1 if shipped else 0), f"{captures} captures, shipped {shipped}"
    if intent is not None:
        assert intent.captured <= intent.amount, (intent.captured, intent.amount)
        assert intent.refunded <= intent.captured, (intent.refunded, intent.captured)
        if shipped:
            assert intent.captured == model.first_total, (intent.captured, model.first_total)
        elif "void" not in model.plan.refuse:
            held_money = intent.status == IntentStatus.AUTHORIZED
            assert not held_money, "an unshipped order kept its authorization"
    if record is not None:
        assert record.captured == (intent.captured if intent else 0), (record.captured, intent)
        assert record.refunded == (intent.refunded if intent else 0), (record.refunded, intent)

    # notifications: each occurrence of each notified event, once
    told = notified(timeline(fakes, order_id))
    for name, occurrence in told:
        notification = h.env.client.get_workflow_handle(
            event_notification_id(order_id, name, occurrence)
        )
        try:
            await asyncio.wait_for(notification.result(), timeout=ANSWER_AFTER_CRASH)
        except (TimeoutError, RPCError) as error:
            raise Failure(f"notification {name} #{occurrence} never finished: {error!r}") from None
    sent = Counter((r.event, r.occurrence) for r in fakes.sent if r.order_id == order_id)
    assert sent == told, f"sent {sorted(sent.items())}, the timeline tells {sorted(told.items())}"

    # the read model, as the store applies writes (adapters/order_store.py): the latest
    # decision wins, by (decided_at, version). A write from a workflow task that was lost
    # (a restart) is a phantom that its task's retry, later in the history, replaces.
    writes = [w.record for w in fakes.records if w.record.id == order_id]
    if writes:
        kept = max(writes, key=lambda w: (w.decided_at, w.version))
        differ = {
            name: (value, getattr(record, name))
            for name, value in kept
            if getattr(record, name) != value
        }
        assert not differ, f"the write the store keeps differs from the final record: {differ}"
        by_decision: dict[tuple[int, int], dict[str, object]] = {}
        for write in writes:
            contents = write.model_dump(exclude={"updated_at"})
            seen = by_decision.setdefault((write.decided_at, write.version), contents)
            assert seen == contents, f"version {write.version} written twice, differently"


# --- the test ---------------------------------------------------------------------------------


class ModelHarness(Harness):
    """The orders and payments workers cache no workflow, so every workflow task replays
    the history from the start, as after a crash: a change that is not deterministic fails
    here at once. The notifications worker keeps its cache: evicted while its channel choice
    (a local activity) runs, a notification's task was lost and waited out its 10 s timeout,
    a stall of the test server's clock that the orders do not need to prove anything."""

    def start_worker(self, name: str) -> None:
        options = self.worker_options
        if name == "notifications":
            self.worker_options = {k: v for k, v in options.items() if k != "max_cached_workflows"}
        try:
            super().start_worker(name)
        finally:
            self.worker_options = options


@asynccontextmanager
async def fresh_harness() -> AsyncIterator[Harness]:
    """A test server and workers of the sequence's own: the server's clock cannot be trusted
    once a sleep was dropped (see `skip`), and a broken sequence must not hold up the next.

    The orders and payments workers cache no workflow (`ModelHarness`). Without the
    sandbox, because replaying every task in it (a fresh import of the workflow module per
    task) took half of each sequence's time; the other workflow tests and tests/replay run
    the workflows in the sandbox."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    options: dict[str, object] = {
        "interceptors": [AttentionInterceptor(5)],  # as deployed
        "max_cached_workflows": 0,
        "workflow_runner": UnsandboxedWorkflowRunner(),
    }
    queues = {name: f"{name}-{uuid.uuid4()}" for name in WORKFLOWS}
    harness = ModelHarness(env, Fakes(), queues, worker_options=options)
    try:
        await register_search_attributes(env.client)
        for name in queues:
            harness.start_worker(name)
        yield harness
    finally:
        for name in list(harness.workers):
            await harness.stop_worker(name)
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
