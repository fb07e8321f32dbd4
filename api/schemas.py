"""Request and response bodies shared by several routes."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL; free text refuses it up front (a 422, not a 500)."""


class Strict(BaseModel):
    """Request bodies refuse unknown fields (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class MoneyOut(BaseModel):
    """An amount in minor units of an ISO 4217 currency."""

    amount: int = Field(examples=[2500])
    currency: str = Field(examples=["EUR"])


class MoneyIn(Strict):
    """An amount in minor units (cents) of an ISO 4217 currency."""

    amount: int = Field(ge=0, le=100_000_000, examples=[2500])
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(examples=["EUR"])


def money(amount: int, currency: str) -> MoneyOut:
    return MoneyOut(amount=amount, currency=currency)


class Page(BaseModel, Generic[T]):
    """A cursor page: pass `next_cursor` back as `?cursor=` for the next one."""

    items: list[T]
    next_cursor: str | None
