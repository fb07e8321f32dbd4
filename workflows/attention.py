"""Steps that keep failing, made visible to operators (docs/runbook.md, "Find a stuck order").

An activity retries on its own until it succeeds, so a step that fails for hours (PostgreSQL
down, the payment provider refusing, a bug) is invisible unless someone opens the workflow.
The workers' `AttentionInterceptor` (workers/attention.py) therefore signals `step_attention` to the
activity's own workflow run once a step has failed `ATTENTION_AFTER_FAILURES` times, and again
when a later attempt succeeds or the step stops retrying. `AttentionMixin` is the workflow
half: it sets the `NeedsAttention` search attribute to the failing step's name and puts the
step, its attempt count and last error at the top of the workflow's current details; both go
away when the step recovers.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.names import NEEDS_ATTENTION

SIGNAL = "step_attention"


@dataclass(frozen=True)
class StepAttention:
    """One step's attempt as the worker saw it; `error` None means it is over (succeeded, or
    stopped retrying and the workflow took its decided path)."""

    step: str
    activity_id: str
    attempt: int
    error: str | None = None


class AttentionMixin:
    """Workflow half: every workflow class inherits it (signal handlers are inherited)."""

    _attention: dict[str, StepAttention] | None = None
    _own_details: str = ""

    @workflow.signal(name=SIGNAL)
    def step_attention(self, report: StepAttention) -> None:
        steps = dict(self._attention or {})
        if report.error is None:
            if steps.pop(report.activity_id, None) is None:
                return
        else:
            steps.pop(report.activity_id, None)  # the latest failing step is shown first
            steps[report.activity_id] = report
        self._show(steps)

    def with_attention(self, details: str) -> str:
        """The workflow's own current details with the failing steps on top: a workflow that
        sets its details passes them through here, so they keep the attention until it clears."""
        self._own_details = details
        failing = [
            f"**needs attention**: `{a.step}` has failed {a.attempt} times; last error: {a.error}"
            for a in reversed((self._attention or {}).values())
        ]
        return "\n\n".join([*failing, details] if details else failing)

    def clear_attention(self) -> None:
        """The workflow gave up on its steps (a delivery window ran out): nothing is stuck."""
        if self._attention:
            self._show({})

    def _show(self, steps: dict[str, StepAttention]) -> None:
        before = self._step_shown()
        self._attention = steps
        after = self._step_shown()
        if after != before:
            workflow.upsert_search_attributes(
                [NEEDS_ATTENTION.value_set(after) if after else NEEDS_ATTENTION.value_unset()]
            )
        workflow.set_current_details(self.with_attention(self._own_details))

    def _step_shown(self) -> str | None:
        steps = self._attention or {}
        return next(reversed(steps.values())).step if steps else None
