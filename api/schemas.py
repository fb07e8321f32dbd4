"""Request and response bodies shared by several routes."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Strict(BaseModel):
    """Request bodies refuse unknown fields (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class MoneyOut(BaseModel):
    amount: int = Field(examples=[2500])
    currency: str = Field(examples=["EUR"])


def money(amount: int, currency: str) -> MoneyOut:
    return MoneyOut(amount=amount, currency=currency)


class Page(BaseModel, Generic[T]):
    """A cursor page: pass `next_cursor` back as `?cursor=` for the next one."""

    items: list[T]
    next_cursor: str | None
