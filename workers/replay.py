"""`python -m workers.replay` (`make replay`): would this checkout's workflows still run the
orders Temporal recorded? The gate before a deploy (docs/runbook.md, "Before a deploy").

    python -m workers.replay --order ord_...           that order, from the configured Temporal
    python -m workers.replay --file order.json         an export of GET /v1/orders/{id}/history
    python -m workers.replay --sample 200 --since 7d   open orders, then the newest closed ones

Every history of an order (its workflow, its payment, its notifications) is replayed on the
code in this checkout with the workers' data converter and codec (adapters/temporal.py), so
encrypted histories replay with the workers' keys. It only reads from Temporal: histories
and the visibility list, never a start, signal or update. Each history that diverges is named
with its order and the first command that differs, as Temporal's determinism check reports
it, beside the history event the code met there.

Exit status: 0 every history replays; 1 at least one diverges (or fails on this code);
2 nothing could be checked (an unknown order, a malformed file, Temporal unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from adapters.codec import CodecKeyError, is_encrypted
from adapters.observability import CorrelationInterceptor
from adapters.order_history import MalformedExport, RecordedRun, order_runs, parse_export
from adapters.settings import Settings
from adapters.temporal import connect, data_converter, payload_codec
from workers.runner import compile_bytecode
from workflows.maintenance import IdempotencyCleanupWorkflow, WebhookRetentionWorkflow
from workflows.names import order_workflow_id
from workflows.notification import NotificationWorkflow
from workflows.order import OrderWorkflow
from workflows.payment import PaymentWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

WORKFLOWS: tuple[type, ...] = (
    OrderWorkflow,
    PaymentWorkflow,
    NotificationWorkflow,
    ReconciliationWorkflow,
    IdempotencyCleanupWorkflow,
    WebhookRetentionWorkflow,
    WebhookDeliveryWorkflow,
)
"""Every workflow the workers run (workers/orders.py, payments.py, notifications.py)."""

FETCH_CONCURRENCY = 8
"""Orders whose histories are read from Temporal at once while earlier ones replay."""

Order = tuple[str, list[RecordedRun]]


class Unchecked(Exception):
    """Nothing could be replayed: the one line the command prints before exiting 2."""


@cache
def _quiet_runtime() -> Runtime:
    """Core logs each failed replay task as a warning; the report says it once, better."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


def replayer(settings: Settings, workflows: Sequence[type] = WORKFLOWS) -> Replayer:
    """A replayer set up as the workers are: their workflows, data converter (with the codec
    when a key is set) and workflow interceptor, and the workflows' bytecode written as a
    worker writes it (the sandbox imports each workflow module afresh for every run)."""
    compile_bytecode()
    return Replayer(
        workflows=workflows,
        data_converter=data_converter(settings),
        interceptors=[CorrelationInterceptor()],
        runtime=_quiet_runtime(),
    )


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    order_id: str
    run: RecordedRun
    difference: str

    def __str__(self) -> str:
        return f"{self.order_id}: {self.run.workflow_id} ({self.run.type}) {self.difference}"


@dataclass
class Report:
    histories: int = 0
    orders: set[str] = field(default_factory=set)
    divergences: list[Divergence] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def diverging_orders(self) -> list[str]:
        return sorted({d.order_id for d in self.divergences})

    def summary(self) -> str:
        rate = self.histories / self.seconds if self.seconds else 0.0
        counted = (
            f"replayed {_count(self.histories, 'history', 'histories')} of "
            f"{_count(len(self.orders), 'order', 'orders')} in {self.seconds:.2f} s "
            f"({rate:.1f} histories/s)"
        )
        diverging = self.diverging_orders
        if not diverging:
            return f"{counted}: every one replays on this code"
        diverge = _count(len(diverging), "order diverges", "orders diverge")
        return f"{counted}: {diverge} ({', '.join(diverging)})"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_CORE_PREFIX = re.compile(r"^\[TMPRL\d+\] Nondeterminism error: ")
_EVENT_ID = re.compile(r"HistoryEvent\(id: (\d+)|event[ _]id:? (\d+)", re.IGNORECASE)
_PATCH = re.compile(r"marker encountered for change (\S+?),? ")


def first_difference(error: Exception, history: WorkflowHistory) -> str:
    """What the replay met: core's nondeterminism message (it names the command the code
    gave where the history has another, or none) and the history event it names, spelled
    out; any other failure (this code raising on the recorded data) by its type and message."""
    text = str(error)
    if match := _CORE_MESSAGE.search(text):
        text = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
    text = _CORE_PREFIX.sub("", text.strip()).split("\n", 1)[0]
    if not isinstance(error, NondeterminismError):
        return f"fails on this code: {type(error).__name__}: {text}"
    event = _named_event(text, history)
    if event is None:
        return f"diverges: {text}"
    return f"diverges at history event {event.event_id}, {describe(event)}: {text}"


def _named_event(text: str, history: WorkflowHistory) -> HistoryEvent | None:
    """The event core's message names, by id, or by patch id for a patch marker."""
    if found := _EVENT_ID.search(text):
        event_id = int(found.group(1) or found.group(2))
        return next((e for e in history.events if e.event_id == event_id), None)
    if found := _PATCH.search(text):
        return next((e for e in history.events if found.group(1) in _marker_names(e)), None)
    return None


def describe(event: HistoryEvent) -> str:
    """`StartChildWorkflowExecutionInitiated PaymentWorkflow payment-ord_x`, `TimerStarted 1`,
    `MarkerRecorded core_patch local-db-steps`: the event's type and what it names."""
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").title().replace("_", "")
    which = event.WhichOneof("attributes")
    if which is None:
        return kind
    attributes = getattr(event, which)
    names = [
        getattr(getattr(attributes, "activity_type", None), "name", ""),
        getattr(getattr(attributes, "workflow_type", None), "name", ""),
        getattr(attributes, "workflow_id", ""),
        getattr(attributes, "timer_id", ""),
        getattr(attributes, "signal_name", ""),
        getattr(attributes, "marker_name", ""),
        *_marker_names(event),
    ]
    return " ".join([kind, *(name for name in names if name)])


def _marker_names(event: HistoryEvent) -> list[str]:
    """A patch marker's patch id, a local activity marker's activity type (core writes both
    as plain JSON, never through the codec)."""
    if not event.HasField("marker_recorded_event_attributes"):
        return []
    details = event.marker_recorded_event_attributes.details
    names = []
    for key, wanted in (("patch-data", "id"), ("data", "activity_type")):
        if key in details and details[key].payloads:
            try:
                names.append(str(json.loads(details[key].payloads[0].data)[wanted]))
            except (ValueError, KeyError, TypeError):
                continue
    return names


async def replay(replayer: Replayer, orders: AsyncIterator[Order]) -> Report:
    """Replay each order's histories as they arrive; the report names every divergence."""
    report, pending = Report(), deque[tuple[str, RecordedRun]]()
    started = time.perf_counter()

    async def histories() -> AsyncIterator[WorkflowHistory]:
        async for order_id, runs in orders:
            report.orders.add(order_id)
            for run in runs:
                pending.append((order_id, run))
                yield run.history

    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            order_id, run = pending.popleft()
            report.histories += 1
            if result.replay_failure is not None:
                difference = first_difference(result.replay_failure, run.history)
                report.divergences.append(Divergence(order_id, run, difference))
    report.seconds = time.perf_counter() - started
    return report


# --- where the histories come from ---------------------------------------------------------


def read_export(path: Path) -> Order:
    try:
        data = json.loads(path.read_bytes())
    except OSError as error:
        raise Unchecked(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise Unchecked(f"{path} is not JSON: {error}") from None
    try:
        return parse_export(data, name=path.stem)
    except MalformedExport as error:
        raise Unchecked(f"{path} is not an order's history export: {error}") from None


async def _one(order: Order) -> AsyncIterator[Order]:
    yield order


async def from_temporal(client: Client, order_id: str) -> AsyncIterator[Order]:
    runs = await order_runs(client, order_id)
    if runs is None:
        raise Unchecked(
            f"Temporal ({client.namespace}) has no order {order_id}: never placed, or closed "
            "longer ago than the namespace's retention"
        )
    yield order_id, runs


async def sample(client: Client, size: int, since: timedelta) -> AsyncIterator[Order]:
    """Up to `size` orders: the open ones first (they will run on the new code), then those
    started within `since`, newest first. Their histories are read a few at a time."""
    base = f"WorkflowType = '{OrderWorkflow.__name__}'"
    start = (datetime.now(UTC) - since).strftime("%Y-%m-%dT%H:%M:%SZ")
    queries = (
        f"{base} AND ExecutionStatus = 'Running'",
        f"{base} AND ExecutionStatus != 'Running' AND StartTime >= '{start}'",
    )
    workflow_ids: list[str] = []
    for query in queries:
        async for execution in client.list_workflows(query, limit=size - len(workflow_ids)):
            workflow_ids.append(execution.id)
        if len(workflow_ids) >= size:
            break
    prefix = order_workflow_id("")
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def fetch(order_id: str) -> tuple[str, list[RecordedRun] | None]:
        async with gate:
            return order_id, await order_runs(client, order_id)

    tasks = [asyncio.ensure_future(fetch(w.removeprefix(prefix))) for w in workflow_ids]
    try:
        for next_done in asyncio.as_completed(tasks):
            order_id, runs = await next_done
            if runs is not None:  # gone past retention since it was listed
                yield order_id, runs
    finally:
        for task in tasks:
            task.cancel()


# --- the command ---------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w`."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 7d, 12h or 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of orders")
    return int(text)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workers.replay",
        description="Replay recorded orders on this checkout's workflows (make replay).",
        epilog="exit status: 0 all replay, 1 a divergence, 2 nothing could be checked",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--order", help="an order id, read from the configured Temporal")
    source.add_argument("--file", type=Path, help="a GET /v1/orders/{id}/history export")
    source.add_argument("--sample", type=positive, help="how many open and recent orders")
    parser.add_argument(
        "--since", type=duration, default=timedelta(days=7), help="how recent (default 7d)"
    )
    return parser


def replay_settings() -> Settings:
    """The environment's settings; against `make run`'s Temporal, the payload key it
    generated (`<data_dir>/local.env`) too, unless the environment sets one."""
    settings = Settings()
    local = settings.data_dir / "local.env"
    if local.exists():
        return Settings(_env_file=(".env", local))  # type: ignore[call-arg]
    return settings


async def decryptable(orders: AsyncIterator[Order], settings: Settings) -> AsyncIterator[Order]:
    """The orders, once each run's input is known to decrypt with the configured keys: a
    missing key is the operator's to fix, not a divergence of the code."""
    codec = payload_codec(settings)
    async for order_id, runs in orders:
        for run in runs:
            started = run.history.events[0].workflow_execution_started_event_attributes
            sealed = [payload for payload in started.input.payloads if is_encrypted(payload)]
            if not sealed:
                continue
            if codec is None:
                raise Unchecked(
                    f"{run.workflow_id} is encrypted: set PAYLOAD_ENCRYPTION_KEY (and "
                    "PAYLOAD_DECRYPTION_KEYS after a rotation) to the workers' keys"
                )
            try:
                await codec.decode(sealed)
            except CodecKeyError as error:
                raise Unchecked(f"{run.workflow_id}: {error}") from None
        yield order_id, runs


async def run(
    args: argparse.Namespace, settings: Settings, workflows: Sequence[type] = WORKFLOWS
) -> Report:
    orders: AsyncIterator[Order]
    if args.file is not None:
        orders = _one(read_export(args.file))
    else:
        try:
            client = await connect(settings)
        except RuntimeError as error:  # the SDK's "Failed client connect"
            raise Unchecked(f"Temporal at {settings.temporal_address}: {error}") from None
        if args.order is not None:
            orders = from_temporal(client, args.order.strip())
        else:
            orders = sample(client, args.sample, args.since)
    try:
        return await replay(replayer(settings, workflows), decryptable(orders, settings))
    except RPCError as error:
        raise Unchecked(f"Temporal at {settings.temporal_address}: {error.message}") from None


async def gate(
    argv: Sequence[str], settings: Settings | None = None, workflows: Sequence[type] = WORKFLOWS
) -> int:
    """The command: parse `argv`, replay on `workflows`, print the report; returns the exit
    status."""
    args = parser().parse_args(argv)
    sdk_log = logging.getLogger("temporalio")
    level = sdk_log.level
    sdk_log.setLevel(logging.CRITICAL)  # each failed replay task, with its traceback
    try:
        settings = settings or replay_settings()
        report = await run(args, settings, workflows)
    except (Unchecked, CodecKeyError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:  # a setting the environment gives a wrong shape
        print(f"replay: settings: {error.errors()[0]['msg']}", file=sys.stderr)
        return 2
    finally:
        sdk_log.setLevel(level)
    for divergence in report.divergences:
        print(divergence)
    print(report.summary())
    if report.histories == 0:
        print("replay: no order to replay (none open or started in that window)", file=sys.stderr)
    return 1 if report.divergences else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(gate(sys.argv[1:])))
