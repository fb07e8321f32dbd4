"""The catalogue: anyone reads it, operators add products."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StringConstraints

from api.deps import OperatorUser, ServicesDep
from api.errors import Problem
from api.pagination import decode_cursor, encode_cursor
from api.schemas import MoneyOut, Page, Strict, money

router = APIRouter(prefix="/v1/products", tags=["products"])

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class ProductOut(BaseModel):
    sku: str
    name: str
    description: str
    price: MoneyOut
    available: int


class MoneyIn(Strict):
    amount: int = Field(ge=0, le=100_000_000)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class ProductIn(Strict):
    sku: Sku
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    price: MoneyIn
    stock: int = Field(ge=0, le=1_000_000)


def _out(row: dict[str, Any]) -> ProductOut:
    return ProductOut(
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        price=money(row["price_amount"], row["currency"]),
        available=row["on_hand"] - row["reserved"],
    )


@router.get("", response_model=Page[ProductOut])
async def list_products(
    services: ServicesDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> Page[ProductOut]:
    secret = services.settings.jwt_secret.get_secret_value().encode()
    after = decode_cursor(secret, cursor).get("sku") if cursor else None
    rows = await services.catalogue.page(limit=limit + 1, query=q, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(secret, {"sku": rows[-1]["sku"]}) if more else None
    return Page[ProductOut](items=[_out(row) for row in rows], next_cursor=next_cursor)


@router.get("/{sku}", response_model=ProductOut, responses={404: {"description": "no such sku"}})
async def get_product(sku: str, services: ServicesDep) -> ProductOut:
    row = await services.catalogue.get(sku)
    if row is None:
        raise Problem(404, "not-found", f"no product {sku}")
    return _out(row)


@router.post(
    "", status_code=201, response_model=ProductOut, responses={409: {"description": "sku exists"}}
)
async def create_product(body: ProductIn, services: ServicesDep, _: OperatorUser) -> ProductOut:
    row = await services.catalogue.create(
        sku=body.sku,
        name=body.name,
        description=body.description,
        price=body.price.amount,
        currency=body.price.currency,
        stock=body.stock,
    )
    if row is None:
        raise Problem(409, "sku-exists", f"product {body.sku} exists")
    return _out(row)
