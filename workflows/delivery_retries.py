"""How a delivery step is retried inside its window, and how its failure reads: shared by
the notification workflow's channels and the merchant webhook deliveries."""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from activities.notifications import DeliveryPolicy


def retries(policy: DeliveryPolicy) -> RetryPolicy:
    """Exponential backoff from the first retry, capped; the window bounds it."""
    return RetryPolicy(
        initial_interval=policy.first_retry,
        backoff_coefficient=2.0,
        maximum_interval=policy.max_retry_interval,
    )


class Attempts(TypedDict):
    """A sending activity's options: each attempt bounded and beating, retried in the window."""

    start_to_close_timeout: timedelta
    heartbeat_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy


def attempts(policy: DeliveryPolicy) -> Attempts:
    return Attempts(
        start_to_close_timeout=policy.attempt_timeout,
        heartbeat_timeout=policy.heartbeat_timeout,
        schedule_to_close_timeout=policy.window,
        retry_policy=retries(policy),
    )


class InTask(TypedDict):
    """A local activity's options: its retries past the first seconds wait on workflow
    timers, and the caller's timer bounds them by the window. A send run so (notifications
    started since 2026-12-05) has no heartbeat: a dead worker shows as its workflow task
    timing out, and the task's retry sends again once the attempt's claim has lapsed."""

    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy
    local_retry_threshold: timedelta


def in_task(policy: DeliveryPolicy, attempt: timedelta = timedelta(seconds=10)) -> InTask:
    """`attempt`: how long one attempt may take (a short query's 10 s by default; a send's
    is its policy's `attempt_timeout`)."""
    return InTask(
        start_to_close_timeout=attempt,
        retry_policy=retries(policy),
        local_retry_threshold=timedelta(seconds=5),
    )


class Recording(TypedDict):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


RECORDING = Recording(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),  # until the DB is back
)
"""Recording an outcome (failed): retried until the database is back."""


def last_error(error: BaseException) -> str:
    """The deepest cause: the last attempt's error rather than "retries ran out"."""
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ApplicationError):
        text = f"{cause.type}: {cause.message}" if cause.type else cause.message
    else:
        text = str(cause)
    if isinstance(error, ActivityError) and error.retry_state == RetryState.TIMEOUT:
        return f"gave up after the delivery window; last error: {text}"
    return text
