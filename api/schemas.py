"""Request and response bodies shared by several routes, and the string types every request
field, path and query parameter is made of.

Every string the API accepts is one of `Line` or `Lines` (or a narrower pattern): PostgreSQL
text and JSONB cannot hold NUL (`\\u0000` in JSON), and a NUL that passed validation once
reached a JSONB column and made an order's workflow retry for ever. Other control
characters (C0, DEL, C1) have no business in names, addresses or references either; the rule
is `domain/text.py`'s, which the order workflow's command checks use too. A lone UTF-16 surrogate
(`"\\ud800"` in JSON) cannot be encoded for PostgreSQL at all; pydantic refuses it wherever a
pattern is checked (`string_unicode`), so these types refuse it too.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Header
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from domain.text import MULTI_LINE, SINGLE_LINE

T = TypeVar("T")

Line = Annotated[str, StringConstraints(pattern=SINGLE_LINE)]
"""Free text on one line; narrow it with another `StringConstraints` (lengths, stripping)."""

Lines = Annotated[str, StringConstraints(pattern=MULTI_LINE)]
"""Free text that may span lines: reasons, descriptions."""

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1 to 255 printable ASCII characters, no spaces; a retry sends the same key",
    ),
]
"""The `Idempotency-Key` header: anything else is a 422, never a key stored or looked up."""


class Strict(BaseModel):
    """Request bodies refuse unknown fields (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class MoneyOut(BaseModel):
    """An amount in minor units of an ISO 4217 currency."""

    amount: int = Field(examples=[2500])
    currency: str = Field(examples=["EUR"])


class MoneyIn(Strict):
    """An amount in minor units (cents) of an ISO 4217 currency; `"1500"` or `1500.0` is
    refused, not read as 1500."""

    amount: StrictInt = Field(ge=0, le=100_000_000, examples=[2500])
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(examples=["EUR"])


def money(amount: int, currency: str) -> MoneyOut:
    return MoneyOut(amount=amount, currency=currency)


class Page(BaseModel, Generic[T]):
    """A cursor page: pass `next_cursor` back as `?cursor=` for the next one."""

    items: list[T]
    next_cursor: str | None
