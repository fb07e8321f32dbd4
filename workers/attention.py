"""Worker half of "a stuck step is visible" (workflows/attention.py has the workflow half).

`AttentionInterceptor` wraps every activity attempt, regular and local alike (a local
activity's attempt number keeps growing across its retries too). From the `after_failures`-th
failed attempt of a step on, it counts the attempt in `engine_step_attention_total` and tells
the step's own workflow run with the `step_attention` signal; when a later attempt succeeds,
or the step stops retrying (a non-retryable error, its last allowed attempt), it signals the
all-clear. A step failing for hours must not flood the history, so it signals at the
`after_failures`-th failure and then at 2x, 4x, 8x ... that many; the metric counts every one.

Signalling is best effort: an error in it is logged and never changes the attempt's outcome.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from temporalio import activity, worker
from temporalio.exceptions import ApplicationError

from workflows.attention import SIGNAL, StepAttention

log = structlog.get_logger()

STEP_ATTENTION = Counter(
    "engine_step_attention_total",
    "Failed activity attempts of steps that have failed at least ATTENTION_AFTER_FAILURES times.",
    ["workflow_type", "step"],
)

ERROR_CHARS = 300
"""Error text shown to operators is cut here: enough to tell the cause, never a payload."""

_SECRETS = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "://<credentials>@"),
    (re.compile(r"\b(?:sk|rk|pk|whsec)_\w+"), "<secret>"),
    (re.compile(r"\b\w+_secret_\w+"), "<secret>"),
)
SIGNAL_TIMEOUT = timedelta(seconds=5)


def error_text(error: BaseException) -> str:
    """The error's type and the first line of its message (never the data a statement was
    given), without emails, credentials or Stripe secrets, at most `ERROR_CHARS` long."""
    if isinstance(error, ApplicationError):
        kind, message = error.type or type(error).__name__, error.message
    else:
        kind, message = type(error).__name__, str(error)
    first_line = message.strip().split("\n", 1)[0]  # SQLAlchemy's statement and parameters follow
    text = " ".join(f"{kind}: {first_line}".split()) if first_line else kind
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def signals_at(attempt: int, after_failures: int) -> bool:
    """At the `after_failures`-th failure, then each time the count doubles."""
    if attempt < after_failures or attempt % after_failures:
        return False
    times = attempt // after_failures
    return times & (times - 1) == 0


class AttentionInterceptor(worker.Interceptor):
    """Installed on every worker (`workers.runner.worker_options`)."""

    def __init__(self, after_failures: int) -> None:
        self.after_failures = after_failures

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _AttentionInbound(next, self.after_failures)


class _AttentionInbound(worker.ActivityInboundInterceptor):
    def __init__(self, next: worker.ActivityInboundInterceptor, after_failures: int) -> None:
        super().__init__(next)
        self._after = after_failures

    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        try:
            result = await super().execute_activity(input)
        except Exception as error:
            await self._failed(info, error)
            raise
        if info.attempt > self._after:
            await _signal(info, None)
        return result

    async def _failed(self, info: activity.Info, error: Exception) -> None:
        if info.attempt < self._after:
            return
        STEP_ATTENTION.labels(info.workflow_type or "", info.activity_type).inc()
        if _is_final(info, error):
            if info.attempt > self._after:
                await _signal(info, None)
        elif signals_at(info.attempt, self._after):
            await _signal(info, error_text(error))


def _is_final(info: activity.Info, error: Exception) -> bool:
    """No attempt follows this one: the workflow now takes its own path."""
    if isinstance(error, ApplicationError) and error.non_retryable:
        return True
    policy = info.retry_policy
    if policy is None:
        return False
    kind = error.type if isinstance(error, ApplicationError) else type(error).__name__
    if kind in (policy.non_retryable_error_types or ()):
        return True
    return bool(policy.maximum_attempts) and info.attempt >= policy.maximum_attempts


async def _signal(info: activity.Info, error: str | None) -> None:
    if not info.workflow_id:
        return
    report = StepAttention(
        step=info.activity_type, activity_id=info.activity_id, attempt=info.attempt, error=error
    )
    try:
        handle = activity.client().get_workflow_handle(
            info.workflow_id, run_id=info.workflow_run_id
        )
        await handle.signal(SIGNAL, report, rpc_timeout=SIGNAL_TIMEOUT)
    except asyncio.CancelledError:
        raise
    except Exception as failure:  # the run ended, the server is away: the attempt stands
        log.warning(
            "step_attention_not_signalled",
            workflow_id=info.workflow_id,
            step=info.activity_type,
            error=type(failure).__name__,
        )
