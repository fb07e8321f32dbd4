"""Products and their prices in PostgreSQL, as the API lists and edits them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.tables import products


class Catalogue:
    """Reads and creates products; stock reservations live in `InventoryStore`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page(
        self, *, limit: int, query: str | None, after: str | None
    ) -> list[dict[str, Any]]:
        """Products ordered by sku, keyset-paginated after the last sku seen."""
        stmt = select(products).order_by(products.c.sku).limit(limit)
        if query:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            stmt = stmt.where(
                or_(products.c.name.ilike(pattern), products.c.description.ilike(pattern))
            )
        if after is not None:
            stmt = stmt.where(products.c.sku > after)
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(stmt)).mappings()]

    async def get_many(self, skus: list[str]) -> dict[str, dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(products).where(products.c.sku.in_(skus)))
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
