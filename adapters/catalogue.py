"""Products and their prices in PostgreSQL, as the API lists and edits them."""

from __future__ import annotations

from enum import Enum
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import products

BY_SKUS = select(products).where(products.c.sku.in_(bindparam("skus", expanding=True)))
"""Every order prices its lines with this: built once, bound per call."""

MAX_ON_HAND = 1_000_000_000
"""Stock adjustments stop here, far from the 32-bit column's limit."""


class StockRefused(Enum):
    """Why a stock adjustment changed nothing."""

    UNKNOWN_SKU = "unknown-sku"
    BELOW_RESERVED = "below-reserved"
    TOO_LARGE = "too-large"


class Catalogue:
    """Reads, creates and edits products; reservations live in `InventoryStore`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def page(
        self, *, limit: int, query: str | None, after: str | None
    ) -> list[dict[str, Any]]:
        """Products ordered by sku, keyset-paginated after the last sku seen."""
        stmt = select(products).order_by(products.c.sku).limit(limit)
        if query:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            stmt = stmt.where(
                or_(
                    products.c.name.ilike(pattern, escape="\\"),
                    products.c.description.ilike(pattern, escape="\\"),
                )
            )
        if after is not None:
            stmt = stmt.where(products.c.sku > after)
        async with self._reads.connect() as conn:
            return [dict(row) for row in (await conn.execute(stmt)).mappings()]

    async def get_many(self, skus: list[str]) -> dict[str, dict[str, Any]]:
        async with self._reads.connect() as conn:
            rows = await conn.execute(BY_SKUS, {"skus": skus})
            return {row["sku"]: dict(row) for row in rows.mappings()}

    async def get(self, sku: str) -> dict[str, Any] | None:
        return (await self.get_many([sku])).get(sku)

    async def create(
        self, *, sku: str, name: str, description: str, price: int, currency: str, stock: int
    ) -> dict[str, Any] | None:
        """Insert a product; None when the sku exists already."""
        stmt = (
            insert(products)
            .values(
                sku=sku,
                name=name,
                description=description,
                price_amount=price,
                currency=currency,
                on_hand=stock,
            )
            .on_conflict_do_nothing(index_elements=[products.c.sku])
            .returning(*products.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(stmt)).mappings().first()
            return dict(row) if row else None

    async def update(self, sku: str, **changes: Any) -> dict[str, Any] | None:
        """Change a product's name, description or price; None when there is no such sku."""
        stmt = (
            update(products)
            .where(products.c.sku == sku)
            .values(**changes, updated_at=func.now())
            .returning(*products.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(stmt)).mappings().first()
            return dict(row) if row else None

    async def adjust_stock(self, sku: str, delta: int) -> dict[str, Any] | StockRefused:
        """Add `delta` to the units on hand in one statement, so a concurrent reservation
        can never be left uncovered: on hand never drops below what is reserved."""
        new_on_hand = products.c.on_hand + delta
        stmt = (
            update(products)
            .where(
                products.c.sku == sku,
                new_on_hand >= products.c.reserved,
                new_on_hand <= MAX_ON_HAND,
            )
            .values(on_hand=new_on_hand, updated_at=func.now())
            .returning(*products.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(stmt)).mappings().first()
            if row is not None:
                return dict(row)
            current = (
                (await conn.execute(select(products).where(products.c.sku == sku)))
                .mappings()
                .first()
            )
        if current is None:
            return StockRefused.UNKNOWN_SKU
        if current["on_hand"] + delta < current["reserved"]:
            return StockRefused.BELOW_RESERVED
        return StockRefused.TOO_LARGE

    async def upsert(self, **values: Any) -> None:
        """Seed helper: create or refresh a product's description and price."""
        stmt = insert(products).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[products.c.sku],
            set_={
                "name": stmt.excluded.name,
                "description": stmt.excluded.description,
                "price_amount": stmt.excluded.price_amount,
                "updated_at": func.now(),
            },
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)
