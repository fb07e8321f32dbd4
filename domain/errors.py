"""Domain errors: what the business refuses, named so the edge can map them.

    DomainError
    ├── InvalidOrder          lines or address the order cannot be placed with
    │   ├── CurrencyMismatch  money in two currencies added or compared
    │   └── UnstorableText    text with NUL, control characters or lone surrogates
    ├── InvalidTransition     the order's status does not allow the command
    │   └── NotCancellable    cancel after shipment or in a final status
    ├── RefundTooLarge        more than the captured amount not yet refunded
    └── OutOfStock            not enough unreserved stock (the API answers 409)

Each error's `code` is a stable slug that activities use as the `ApplicationError` type
and the API uses as the problem `type`.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the business rules make."""

    code = "domain-error"


class InvalidOrder(DomainError):
    """The order cannot be placed as asked."""

    code = "invalid-order"


class CurrencyMismatch(InvalidOrder):
    """Amounts in different currencies were combined."""

    code = "currency-mismatch"


class UnstorableText(InvalidOrder):
    """A text field holds characters that may not be stored (see `domain/text.py`)."""

    code = "invalid-text"


class InvalidTransition(DomainError):
    """The command is not allowed in the order's current status."""

    code = "invalid-state"


class NotCancellable(InvalidTransition):
    """The order is shipped or already final."""

    code = "not-cancellable"


class RefundTooLarge(DomainError):
    """The refund exceeds what was captured and not yet refunded."""

    code = "refund-too-large"


class OutOfStock(DomainError):
    """Some line asks for more than the unreserved stock."""

    code = "out-of-stock"

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"out of stock: {', '.join(skus)}")
        self.skus = skus
