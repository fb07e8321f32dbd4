"""Users (customers and operators) in PostgreSQL; emails are unique case-insensitively."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import autocommit
from adapters.tables import users


class UserStore:
    """Creates and finds users; passwords arrive already hashed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def create(
        self,
        *,
        email: str,
        name: str,
        phone: str | None,
        password_hash: str,
        role: str = "customer",
    ) -> dict[str, Any] | None:
        """The new user, or None when the email is taken."""
        stmt = (
            insert(users)
            .values(
                id=f"usr_{uuid.uuid4().hex[:20]}",
                email=email,
                name=name,
                phone=phone,
                password_hash=password_hash,
                role=role,
            )
            .on_conflict_do_nothing()
            .returning(*users.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(stmt)).mappings().first()
            return dict(row) if row else None

    async def by_email(self, email: str) -> dict[str, Any] | None:
        query = select(users).where(func.lower(users.c.email) == email.lower())
        async with self._reads.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return dict(row) if row else None

    async def by_id(self, user_id: str) -> dict[str, Any] | None:
        async with self._reads.connect() as conn:
            row = (
                (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
            )
            return dict(row) if row else None

    async def set_operator(self, email: str, name: str, password_hash: str) -> None:
        """Create the operator account, or reset its password and role."""
        existing = await self.by_email(email)
        if existing is None:
            await self.create(
                email=email, name=name, phone=None, password_hash=password_hash, role="operator"
            )
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == existing["id"])
                .values(password_hash=password_hash, role="operator", updated_at=func.now())
            )
