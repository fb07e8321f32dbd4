"""The payment workflow's calls to the provider, through the payment activities: each with
its timeout, its retries and the summary operators read in the Temporal UI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.payments import AuthorizeInput, IntentCommand, IntentResult, PaymentActivities

PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
"""Outages (network, rate limits, 5xx) retry forever with backoff; refusals are
non-retryable."""

CALL_TIMEOUT = timedelta(seconds=30)

A = TypeVar("A")
R = TypeVar("R")


def reason(error: ActivityError) -> str:
    """A failed call's explanation: the refusal's own message when there is one."""
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(error)


async def _call(
    fn: Callable[[Any, A], Awaitable[R]], arg: A, summary: str, retry: RetryPolicy = PROVIDER_RETRY
) -> R:
    return await workflow.execute_activity_method(
        fn, arg, summary=summary, start_to_close_timeout=CALL_TIMEOUT, retry_policy=retry
    )


async def authorize(inp: AuthorizeInput) -> IntentResult:
    summary = f"authorize {inp.amount} {inp.currency} (manual capture)"
    return await _call(PaymentActivities.authorize_payment, inp, summary)


async def capture(command: IntentCommand) -> IntentResult:
    return await _call(PaymentActivities.capture_payment, command, f"capture {command.amount}")


async def refund(command: IntentCommand) -> None:
    await _call(PaymentActivities.refund_payment, command, f"refund {command.amount}")


async def void(command: IntentCommand) -> None:
    await _call(PaymentActivities.void_payment, command, "void the authorization")


async def refresh(
    intent_id: str, summary: str, retry: RetryPolicy = PROVIDER_RETRY
) -> IntentResult:
    """Re-read the intent as the provider sees it now."""
    return await _call(PaymentActivities.refresh_payment, intent_id, summary, retry)
