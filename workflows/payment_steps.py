"""The payment workflow's calls to the provider, through the payment activities: each with
its timeout, its retries and the summary operators read in the Temporal UI."""

from __future__ import annotations

from datetime import timedelta

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


def reason(error: ActivityError) -> str:
    """A failed call's explanation: the refusal's own message when there is one."""
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(error)


async def authorize(inp: AuthorizeInput) -> IntentResult:
    return await workflow.execute_activity_method(
        PaymentActivities.authorize_payment,
        inp,
        summary=f"authorize {inp.amount} {inp.currency} (manual capture)",
        start_to_close_timeout=CALL_TIMEOUT,
        retry_policy=PROVIDER_RETRY,
    )


async def capture(command: IntentCommand) -> IntentResult:
    return await workflow.execute_activity_method(
        PaymentActivities.capture_payment,
        command,
        summary=f"capture {command.amount}",
        start_to_close_timeout=CALL_TIMEOUT,
        retry_policy=PROVIDER_RETRY,
    )


async def refund(command: IntentCommand) -> None:
    await workflow.execute_activity_method(
        PaymentActivities.refund_payment,
        command,
        summary=f"refund {command.amount}",
        start_to_close_timeout=CALL_TIMEOUT,
        retry_policy=PROVIDER_RETRY,
    )


async def void(command: IntentCommand) -> None:
    await workflow.execute_activity_method(
        PaymentActivities.void_payment,
        command,
        summary="void the authorization",
        start_to_close_timeout=CALL_TIMEOUT,
        retry_policy=PROVIDER_RETRY,
    )


async def refresh(
    intent_id: str, summary: str, retry: RetryPolicy = PROVIDER_RETRY
) -> IntentResult:
    """Re-read the intent as the provider sees it now."""
    return await workflow.execute_activity_method(
        PaymentActivities.refresh_payment,
        intent_id,
        summary=summary,
        start_to_close_timeout=CALL_TIMEOUT,
        retry_policy=retry,
    )
