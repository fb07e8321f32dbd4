"""Domain errors: every refusal the business makes, one class each, named once.

    DomainError
    ├── InvalidOrder            lines or address the order cannot be placed with
    │   ├── CurrencyMismatch    money in two currencies added or compared
    │   ├── UnstorableText      text with NUL, control characters or lone surrogates
    │   ├── UnknownProduct      a line names a sku the catalogue does not have
    │   ├── UnknownLine         a command's line names a sku the order does not have
    │   ├── TooManyUnits        ship or return more units than are left to
    │   └── InvalidEdit         an edit that raises a quantity or leaves nothing
    ├── OutOfStock              not enough unreserved stock
    ├── InvalidTransition       the order's status does not allow the command
    │   ├── NotCancellable      cancel after shipment or in a final status
    │   └── ReturnWindowClosed  a return asked for after the return window
    ├── NotFound                a shipment or return the order does not have
    │   ├── UnknownShipment
    │   └── UnknownReturn
    ├── RefundTooLarge          more than the captured amount not yet refunded
    ├── IdempotencyKeyReused    a command's key came back with another request
    └── PaymentRefused          the payment provider finally refused an operation
        ├── CardDeclined        the card was declined at authorization
        ├── AmountMismatch      the provider answered another amount or currency
        ├── CaptureFailed       capture at shipment refused
        └── RefundFailed        a refund refused

Each class's `code` is its stable, kebab-case slug: workflows and activities raise it as
the `ApplicationError` type, and the API answers it as the problem `type`. `from_code`
turns a slug that crossed a process boundary back into its class; the API maps classes,
not slugs, to HTTP statuses (`api/errors.py`).
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the business rules make."""

    code = "domain-error"
    about_skus = ""
    """For a refusal about skus: the words its message starts with when none is given."""

    def __init__(self, message: str = "", skus: list[str] | None = None) -> None:
        self.skus = list(skus or [])
        if not message and self.about_skus:
            message = f"{self.about_skus}: {', '.join(self.skus)}"
        super().__init__(message or self.code)

    @staticmethod
    def from_code(code: str | None) -> type[DomainError] | None:
        """The class whose `code` this is, or None for a slug that is not ours."""
        return _BY_CODE.get(code or "")


class InvalidOrder(DomainError):
    """The order cannot be placed as asked."""

    code = "invalid-order"


class CurrencyMismatch(InvalidOrder):
    """Amounts in different currencies were combined."""

    code = "currency-mismatch"


class UnstorableText(InvalidOrder):
    """A text field holds characters that may not be stored (see `domain/text.py`)."""

    code = "invalid-text"


class UnknownProduct(InvalidOrder):
    """A line names a sku that is not in the catalogue."""

    code = "unknown-product"
    about_skus = "unknown sku"


class UnknownLine(InvalidOrder):
    """A command's line names a sku that is not on the order."""

    code = "unknown-line"
    about_skus = "not on the order"


class TooManyUnits(InvalidOrder):
    """More units than are left to ship, or to return."""

    code = "too-many-units"
    about_skus = "more units than are left"


class InvalidEdit(InvalidOrder):
    """An edit may only lower quantities, and must leave something to ship."""

    code = "invalid-edit"


class OutOfStock(DomainError):
    """Some line asks for more than the unreserved stock."""

    code = "out-of-stock"
    about_skus = "out of stock"


class InvalidTransition(DomainError):
    """The command is not allowed in the order's current status."""

    code = "invalid-state"


class NotCancellable(InvalidTransition):
    """The order is shipped or already final."""

    code = "not-cancellable"


class ReturnWindowClosed(InvalidTransition):
    """Returns are taken only within the return window after delivery."""

    code = "return-window-closed"


class NotFound(DomainError):
    """The order has no such part."""

    code = "not-found"


class UnknownShipment(NotFound):
    code = "unknown-shipment"


class UnknownReturn(NotFound):
    code = "unknown-return"


class RefundTooLarge(DomainError):
    """The refund exceeds what was captured and not yet refunded."""

    code = "refund-too-large"


class IdempotencyKeyReused(DomainError):
    """An `Idempotency-Key` was sent again with a different request."""

    code = "idempotency-key-reused"


class PaymentRefused(DomainError):
    """The payment provider gave a final no (not an outage: those are retried)."""

    code = "payment-refused"


class CardDeclined(PaymentRefused):
    code = "card-declined"


class AmountMismatch(PaymentRefused):
    code = "amount-mismatch"


class CaptureFailed(PaymentRefused):
    code = "payment-capture-failed"


class RefundFailed(PaymentRefused):
    code = "refund-failed"


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


_BY_CODE = {cls.code: cls for cls in _subclasses(DomainError)}
