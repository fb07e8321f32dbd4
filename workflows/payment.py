"""PaymentWorkflow: owns one order's payment intent from authorization to capture or void.

It runs as a child of the order (`payment-{order_id}`, queue `payments`), reports every
outcome to its parent with the `payment_report` signal and takes commands (`capture`,
`void`, `refund`, `close`) through the `command` signal. A `void` that arrives while the
authorization or the customer's 3-D Secure is still under way cancels the intent at once.
A provider's final refusal is reported (`capture_failed`, `void_failed`, `refund_failed`),
never fatal: the order decides what follows. Idempotency keys derive from the workflow id,
the operation and its sequence number, never the run id, so retries cannot charge twice.
It speaks the payment port's words (`domain/payments.py`), whatever the provider.
Pinned, as its order is: both ends of the order's signals run one version's code
(docs/architecture.md, "Worker versions").
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.payments import AuthorizeInput, IntentCommand, IntentResult
    from domain.lifecycle import PaymentStatus
    from domain.payments import IntentStatus
    from workflows.attention import AttentionMixin
    from workflows.contracts import (
        PaymentCommand,
        PaymentInput,
        PaymentReport,
        PaymentSummary,
        PaymentWebhook,
    )
    from workflows.names import CUSTOMER_ID, ORDER_TOTAL, PAYMENT_STATUS
    from workflows.payment_steps import authorize, capture, reason, refresh, refund, void

ACTION_POLL_FIRST = timedelta(seconds=2)
ACTION_POLL_MAX = timedelta(minutes=1)
"""While the customer does 3-D Secure, the intent is also re-read on this backing-off poll:
webhooks are prompts that can be late or lost (the local stand-in sends none for this step)."""


@workflow.defn
class PaymentWorkflow(AttentionMixin):
    """Authorize (manual capture), wait for 3-D Secure, capture or void."""

    @workflow.init
    def __init__(self, inp: PaymentInput) -> None:
        self._inp = inp
        self._status: PaymentStatus = PaymentStatus.PENDING
        self._intent: IntentResult | None = None
        self._commands: list[PaymentCommand] = []
        self._webhooks: list[PaymentWebhook] = []
        self._captured = 0
        self._refunded = 0
        self._sequence: dict[str, int] = {}

    @workflow.run
    async def run(self, inp: PaymentInput) -> PaymentSummary:
        workflow.upsert_search_attributes(
            [CUSTOMER_ID.value_set(inp.customer_id), ORDER_TOTAL.value_set(inp.amount)]
        )
        if await self._authorize():
            await self._serve_commands()
        return self.summary()

    @workflow.signal
    def command(self, command: PaymentCommand) -> None:
        self._commands.append(command)

    @workflow.signal(name="stripe_event")  # the name histories recorded
    def provider_event(self, event: PaymentWebhook) -> None:
        """A provider's webhook about this intent (`api/routes/webhooks.py`): a prompt to
        re-read it."""
        self._webhooks.append(event)

    @workflow.query
    def summary(self) -> PaymentSummary:
        return PaymentSummary(
            order_id=self._inp.order_id,
            status=str(self._status),
            intent_id=self._intent.intent_id if self._intent else None,
            authorized=self._intent.amount
            if self._intent and self._status == PaymentStatus.AUTHORIZED
            else 0,
            captured=self._captured,
            refunded=self._refunded,
        )

    async def _authorize(self) -> bool:
        """True once authorized, or voided on the order's request (it still takes commands
        until `close`); reports every outcome to the order."""
        inp = self._inp
        self._set_status(PaymentStatus.AUTHORIZING)
        try:
            self._intent = await authorize(
                AuthorizeInput(
                    order_id=inp.order_id,
                    amount=inp.amount,
                    currency=inp.currency,
                    payment_method=inp.payment_method,
                    idempotency_key=self._key("authorize"),
                )
            )
        except ActivityError as error:
            await self._fail(reason(error))
            return False
        if self._void_requested():  # the order was cancelled while we authorized
            return await self._void_on_request()
        if self._intent.status == IntentStatus.ACTION_REQUIRED:
            self._set_status(PaymentStatus.ACTION_REQUIRED)
            await self._report(
                PaymentReport(
                    kind="action_required",
                    intent_id=self._intent.intent_id,
                    client_secret=self._intent.client_secret,
                )
            )
            if not await self._await_customer_action():
                return False
            if self._void_requested():
                return await self._void_on_request()
        if self._intent.status != IntentStatus.AUTHORIZED:
            await self._fail(self._intent.error or f"payment {self._intent.status}")
            return False
        self._set_status(PaymentStatus.AUTHORIZED)
        await self._report(
            PaymentReport(
                kind="authorized", intent_id=self._intent.intent_id, amount=self._intent.amount
            )
        )
        return True

    async def _await_customer_action(self) -> bool:
        """Re-read the intent on each webhook, and on a backing-off poll in case a webhook is
        lost or never sent, until it no longer waits for the customer, the order asks for a void or
        the deadline passes."""
        assert self._intent is not None
        deadline = workflow.now() + self._inp.action_timeout
        poll = ACTION_POLL_FIRST
        while self._intent.status == IntentStatus.ACTION_REQUIRED:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                voided = await self._void()
                expired = "payment action timed out"
                if voided.kind == "void_failed":
                    expired += f"; the intent could not be voided: {voided.reason}"
                await self._report(
                    PaymentReport(kind="expired", intent_id=self._intent_id(), reason=expired)
                )
                return False
            try:
                await workflow.wait_condition(
                    lambda: bool(self._webhooks) or self._void_requested(),
                    timeout=min(poll, remaining),
                )
            except TimeoutError:
                poll = min(poll * 2, ACTION_POLL_MAX)
            if self._void_requested():
                return True
            self._webhooks.clear()
            try:
                self._intent = await refresh(self._intent.intent_id, "re-read the payment intent")
            except ActivityError as error:  # the provider refuses to show it, for good
                why = f"the payment intent cannot be read: {reason(error)}"
                voided = await self._void()  # whatever it became, release it
                if voided.kind == "void_failed":
                    why += f"; nor voided: {voided.reason}"
                await self._fail(why)
                return False
        return True

    async def _serve_commands(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._commands))
            command = self._commands.pop(0)
            if command.kind == "close":
                return
            if command.kind == "capture":
                try:
                    await self._capture(command.amount)
                except ActivityError as error:
                    await self._report(
                        PaymentReport(
                            kind="capture_failed",
                            intent_id=self._intent_id(),
                            reason=reason(error),
                        )
                    )
            elif command.kind == "void":
                await self._report(await self._void())
            elif command.kind == "refund":
                await self._refund(command.amount)

    async def _refund(self, amount: int) -> None:
        """Refund part of the captured amount; a refusal is reported, never fatal."""
        try:
            key = self._key("refund")
            await refund(
                IntentCommand(intent_id=self._intent_id(), amount=amount, idempotency_key=key)
            )
        except ActivityError as error:
            await self._report(
                PaymentReport(
                    kind="refund_failed", intent_id=self._intent_id(), reason=reason(error)
                )
            )
            return
        self._refunded += amount
        self._set_status(
            PaymentStatus.REFUNDED
            if self._refunded >= self._captured
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        await self._report(
            PaymentReport(kind="refunded", intent_id=self._intent_id(), amount=amount)
        )

    async def _capture(self, amount: int) -> None:
        key = self._key("capture")
        result = await capture(
            IntentCommand(intent_id=self._intent_id(), amount=amount, idempotency_key=key)
        )
        self._captured = result.amount
        self._set_status(PaymentStatus.CAPTURED)
        await self._report(
            PaymentReport(kind="captured", intent_id=result.intent_id, amount=amount)
        )

    def _void_requested(self) -> bool:
        return any(command.kind == "void" for command in self._commands)

    async def _void_on_request(self) -> bool:
        """The order was cancelled before the authorization finished: void it now and keep
        serving commands until `close`."""
        self._commands = [command for command in self._commands if command.kind != "void"]
        await self._report(await self._void())
        return True

    async def _void(self) -> PaymentReport:
        """Release the authorization. An intent the provider already voided (an expired
        hold) counts as voided; any other final refusal is reported as `void_failed`."""
        try:
            key = self._key("void")
            await void(IntentCommand(intent_id=self._intent_id(), amount=0, idempotency_key=key))
        except ActivityError as error:
            status = await self._current_status()
            if status != IntentStatus.VOIDED:
                self._set_status(PaymentStatus.VOID_FAILED)
                return PaymentReport(
                    kind="void_failed", intent_id=self._intent_id(), reason=reason(error)
                )
        self._set_status(PaymentStatus.VOIDED)
        return PaymentReport(kind="voided", intent_id=self._intent_id())

    async def _current_status(self) -> IntentStatus | None:
        """The intent's status as the provider tells it now; None when it will not say."""
        try:
            intent = await refresh(
                self._intent_id(),
                "re-read the payment intent after a refused void",
                RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10),
            )
        except ActivityError:
            return None
        return intent.status

    async def _fail(self, reason: str) -> None:
        self._set_status(PaymentStatus.FAILED)
        await self._report(
            PaymentReport(
                kind="failed",
                reason=reason,
                intent_id=self._intent.intent_id if self._intent else None,
            )
        )

    async def _report(self, report: PaymentReport) -> None:
        parent = workflow.info().parent
        if parent is not None:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "payment_report", report
            )

    def _set_status(self, status: PaymentStatus) -> None:
        self._status = status
        workflow.upsert_search_attributes([PAYMENT_STATUS.value_set(str(status))])

    def _intent_id(self) -> str:
        if self._intent is None:
            raise ApplicationError("no payment intent yet", non_retryable=True)
        return self._intent.intent_id

    def _key(self, operation: str) -> str:
        """`payment-{order_id}:{operation}:{n}`: stable across retries, crashes and resets."""
        n = self._sequence.get(operation, 0) + 1
        self._sequence[operation] = n
        return f"{workflow.info().workflow_id}:{operation}:{n}"
