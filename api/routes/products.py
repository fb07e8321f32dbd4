"""The catalogue: anyone reads and searches it; operators add products, edit them and
adjust their stock."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from adapters.catalogue import StockRefused
from api.deps import OperatorUser, ServicesDep
from api.errors import Problem, problems
from api.pagination import decode_cursor, encode_cursor
from api.schemas import (
    SKU_PATTERN,
    Line,
    Lines,
    MoneyIn,
    MoneyOut,
    Page,
    Sku,
    Strict,
    money,
)
from domain.text import SINGLE_LINE

router = APIRouter(prefix="/v1/products", tags=["products"])

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, examples=["TSHIRT-BLUE-M"])]
Name = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[Lines, StringConstraints(max_length=5000)]

_EXAMPLE: dict[str, Any] = {
    "sku": "TSHIRT-BLUE-M",
    "name": "Blue T-shirt (M)",
    "description": "Organic cotton, medium",
    "price": {"amount": 2500, "currency": "EUR"},
}


class ProductOut(BaseModel):
    """A product as customers see it: `available` is on hand minus reserved."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_EXAMPLE, "available": 42}]})

    sku: str
    name: str
    description: str
    price: MoneyOut
    available: int


class StockOut(BaseModel):
    """A product's stock after an adjustment."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"sku": "TSHIRT-BLUE-M", "on_hand": 50, "reserved": 8, "available": 42}]
        }
    )

    sku: str
    on_hand: int
    reserved: int
    available: int


class ProductIn(Strict):
    """A new product and its initial stock."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_EXAMPLE, "stock": 50}]})

    sku: Sku
    name: Name
    description: Description = ""
    price: MoneyIn
    stock: StrictInt = Field(ge=0, le=1_000_000)


class ProductPatchIn(Strict):
    """The fields to change; omitted (or null) fields stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"price": {"amount": 2200, "currency": "EUR"}}]}
    )

    name: Name | None = None
    description: Description | None = None
    price: MoneyIn | None = None


class StockIn(Strict):
    """Units to add to (positive) or remove from (negative) the stock on hand."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"delta": 10}, {"delta": -3}]})

    delta: StrictInt = Field(ge=-1_000_000, le=1_000_000)


def _out(row: dict[str, Any]) -> ProductOut:
    return ProductOut(
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        price=money(row["price_amount"], row["currency"]),
        available=row["on_hand"] - row["reserved"],
    )


@router.get("", response_model=Page[ProductOut], responses=problems({422: "invalid-cursor"}))
async def list_products(
    services: ServicesDep,
    q: Annotated[
        str | None,
        Query(max_length=100, pattern=SINGLE_LINE, description="words in the name or description"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512, pattern=SINGLE_LINE)] = None,
) -> Page[ProductOut]:
    """Products by sku, in keyset pages: inserts while paging never repeat or skip one."""
    secret = services.settings.jwt_secret.get_secret_value().encode()
    after = decode_cursor(secret, cursor).get("sku") if cursor else None
    if after is not None and not isinstance(after, str):
        raise Problem(422, "invalid-cursor", "the cursor is not valid")
    rows = await services.catalogue.page(limit=limit + 1, query=q, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(secret, {"sku": rows[-1]["sku"]}) if more else None
    return Page[ProductOut](items=[_out(row) for row in rows], next_cursor=next_cursor)


@router.get("/{sku}", response_model=ProductOut, responses=problems({404: "no such sku"}))
async def get_product(sku: SkuPath, services: ServicesDep) -> ProductOut:
    row = await services.catalogue.get(sku)
    if row is None:
        raise Problem(404, "not-found", f"no product {sku}")
    return _out(row)


@router.post(
    "", status_code=201, response_model=ProductOut, responses=problems({409: "sku-exists"})
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


@router.patch("/{sku}", response_model=ProductOut, responses=problems({404: "no such sku"}))
async def update_product(
    sku: SkuPath, body: ProductPatchIn, services: ServicesDep, _: OperatorUser
) -> ProductOut:
    """Change the name, description or price; orders placed before keep their prices."""
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = body.name
    if body.description is not None:
        changes["description"] = body.description
    if body.price is not None:
        changes["price_amount"] = body.price.amount
        changes["currency"] = body.price.currency
    row = (
        await services.catalogue.update(sku, **changes)
        if changes
        else await services.catalogue.get(sku)
    )
    if row is None:
        raise Problem(404, "not-found", f"no product {sku}")
    return _out(row)


@router.post(
    "/{sku}/stock",
    response_model=StockOut,
    responses=problems(
        {
            404: "no such sku",
            409: "stock-below-reserved: the units on hand would not cover the reserved ones",
            422: "stock-too-large: more than 1,000,000,000 units on hand",
        }
    ),
)
async def adjust_stock(
    sku: SkuPath, body: StockIn, services: ServicesDep, _: OperatorUser
) -> StockOut:
    """Add or remove units on hand; never below what open orders have reserved."""
    result = await services.catalogue.adjust_stock(sku, body.delta)
    if result is StockRefused.UNKNOWN_SKU:
        raise Problem(404, "not-found", f"no product {sku}")
    if result is StockRefused.BELOW_RESERVED:
        raise Problem(
            409,
            "stock-below-reserved",
            f"{sku}: the units on hand cannot drop below the units reserved by orders",
        )
    if result is StockRefused.TOO_LARGE:
        raise Problem(422, "stock-too-large", f"{sku}: too many units on hand")
    return StockOut(
        sku=result["sku"],
        on_hand=result["on_hand"],
        reserved=result["reserved"],
        available=result["on_hand"] - result["reserved"],
    )
