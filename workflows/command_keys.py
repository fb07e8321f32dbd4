"""Idempotency keys of order commands, as the order workflow remembers them.

With an `Idempotency-Key` the API derives the update id from the key and the request's hash,
so Temporal answers a retried command with its first outcome while the update is known. The
workflow also keeps each key's hash for its whole life: the same request again answers the
order's state and does nothing; another request under the key is refused.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.errors import IdempotencyKeyReused
    from workflows.contracts import Command


class CommandKeys:
    def __init__(self) -> None:
        self._hashes: dict[str, str | None] = {}

    def seen(self, command: Command) -> bool:
        """True for a key seen before with the same request; raises for another request."""
        key = command.idempotency_key
        if key is None or key not in self._hashes:
            return False
        if self._hashes[key] != command.request_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")
        return True

    def remember(self, command: Command) -> None:
        if command.idempotency_key:
            self._hashes[command.idempotency_key] = command.request_hash
