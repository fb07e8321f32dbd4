"""The payment ledger as reconciliation reads it, and the reports it writes."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.tables import orders, reconciliation_reports
from domain.reconciliation import LedgerEntry, Mismatch


class ReconciliationStore:
    """Reads the ledger (the orders read model) and stores each run's mismatches."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ledger(self) -> list[LedgerEntry]:
        query = select(
            orders.c.id,
            orders.c.status,
            orders.c.total,
            orders.c.currency,
            orders.c.payment_intent_id,
            orders.c.authorized,
        )
        async with self._engine.connect() as conn:
            return [LedgerEntry(*row) for row in await conn.execute(query)]

    async def save(self, checked: int, mismatches: list[Mismatch]) -> str:
        report_id = f"rec_{uuid.uuid4().hex[:20]}"
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(reconciliation_reports).values(
                    id=report_id, checked=checked, mismatches=[asdict(m) for m in mismatches]
                )
            )
        return report_id

    async def latest(self) -> dict[str, Any] | None:
        query = (
            select(reconciliation_reports)
            .order_by(reconciliation_reports.c.created_at.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return dict(row) if row else None
