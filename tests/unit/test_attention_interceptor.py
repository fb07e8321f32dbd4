"""The workers' attention interceptor: which attempts it counts in the metric and signals."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from prometheus_client import REGISTRY
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from workers.attention import AttentionInterceptor, error_text, signals_at
from workflows.attention import SIGNAL, StepAttention

AFTER = 5


class Signals:
    """Stands in for the worker's client: records what would be signalled, and to whom."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, StepAttention]] = []

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None) -> Any:
        sent = self.sent

        class Handle:
            async def signal(self, name: str, arg: StepAttention, **_: object) -> None:
                assert name == SIGNAL
                sent.append((workflow_id, run_id, arg))

        return Handle()


class Step(ActivityInboundInterceptor):
    """The activity itself: raises `error`, or returns "ok"."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if self.error is not None:
            raise self.error
        return "ok"


def attention_count(workflow_type: str, step: str) -> float:
    labels = {"workflow_type": workflow_type, "step": step}
    return REGISTRY.get_sample_value("engine_step_attention_total", labels) or 0.0


async def attempt(
    signals: Signals,
    number: int,
    error: Exception | None = None,
    *,
    step: str = "record_order",
    retry_policy: RetryPolicy | None = None,
) -> None:
    env = ActivityEnvironment(client=signals)  # type: ignore[arg-type]
    env.info = dataclasses.replace(
        env.info,
        activity_id="7",
        activity_type=step,
        attempt=number,
        is_local=True,
        workflow_id="order-ord_1",
        workflow_run_id="run-1",
        workflow_type="OrderWorkflow",
        retry_policy=retry_policy,
    )
    inbound = AttentionInterceptor(AFTER).intercept_activity(Step(error))
    call = ExecuteActivityInput(fn=lambda: None, args=[], executor=None, headers={})

    async def run() -> Any:
        return await inbound.execute_activity(call)

    try:
        await env.run(run)
    except Exception as raised:
        assert raised is error


async def test_each_failed_attempt_from_the_threshold_on_is_counted_by_workflow_and_step() -> None:
    signals = Signals()
    before = attention_count("OrderWorkflow", "commit_stock")

    for number in range(1, 9):
        await attempt(signals, number, ConnectionError("db down"), step="commit_stock")

    assert attention_count("OrderWorkflow", "commit_stock") - before == 4  # attempts 5 to 8


async def test_the_workflow_is_signalled_at_the_threshold_then_as_failures_double() -> None:
    signals = Signals()

    for number in range(1, 22):
        await attempt(signals, number, ConnectionError("db down"))

    assert [report.attempt for _, _, report in signals.sent] == [5, 10, 20]
    workflow_id, run_id, first = signals.sent[0]
    assert (workflow_id, run_id) == ("order-ord_1", "run-1")
    assert first == StepAttention(
        step="record_order", activity_id="7", attempt=5, error="ConnectionError: db down"
    )


async def test_a_success_after_the_threshold_clears_and_one_before_says_nothing() -> None:
    signals = Signals()

    await attempt(signals, 3)
    await attempt(signals, 5)
    assert signals.sent == []

    await attempt(signals, 6)
    assert [report for _, _, report in signals.sent] == [
        StepAttention(step="record_order", activity_id="7", attempt=6, error=None)
    ]


@pytest.mark.parametrize(
    ("error", "policy"),
    [
        (ApplicationError("card declined", type="card_declined", non_retryable=True), None),
        (ConnectionError("down"), RetryPolicy(maximum_attempts=7)),
        (ConnectionError("down"), RetryPolicy(non_retryable_error_types=["ConnectionError"])),
    ],
)
async def test_a_final_failure_after_the_threshold_clears_instead_of_flagging(
    error: Exception, policy: RetryPolicy | None
) -> None:
    signals = Signals()

    await attempt(signals, 7, error, retry_policy=policy)

    assert [report.error for _, _, report in signals.sent] == [None]


def test_signals_at_the_threshold_and_each_doubling() -> None:
    assert [n for n in range(1, 100) if signals_at(n, 5)] == [5, 10, 20, 40, 80]
    assert [n for n in range(1, 10) if signals_at(n, 1)] == [1, 2, 4, 8]


def test_error_text_is_one_short_line_without_emails_secrets_or_statement_data() -> None:
    error = ApplicationError(
        "could not reach postgresql://app:hunter2@db:5432 for ada@example.com key sk_live_abc123"
        "\n[SQL: INSERT INTO orders]\n[parameters: ('1 Main St', 'London')]",
        type="OperationalError",
    )

    text = error_text(error)

    assert text == (
        "OperationalError: could not reach postgresql://<credentials>@db:5432 for <email> "
        "key <secret>"
    )
    assert len(error_text(RuntimeError("x" * 1000))) == 300
    assert error_text(TimeoutError()) == "TimeoutError"
    assert error_text(ApplicationError("pi_3Abc_secret_XyZ leaked")) == (
        "ApplicationError: <secret> leaked"
    )
