"""Payment operations: the latest reconciliation report."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import OperatorUser, ServicesDep
from api.errors import Problem

router = APIRouter(prefix="/v1/payments", tags=["payments"])


class MismatchOut(BaseModel):
    kind: str
    order_id: str | None
    payment_intent_id: str | None
    detail: str


class ReportOut(BaseModel):
    id: str
    created_at: datetime
    checked: int
    mismatches: list[MismatchOut]


@router.get(
    "/reconciliation",
    response_model=ReportOut,
    responses={404: {"description": "no reconciliation has run yet"}},
)
async def latest_reconciliation(_: OperatorUser, services: ServicesDep) -> ReportOut:
    """The latest comparison of the payment ledger with Stripe (daily, or `make reconcile`)."""
    report = await services.reconciliation.latest()
    if report is None:
        raise Problem(404, "not-found", "no reconciliation has run yet")
    return ReportOut.model_validate(report)
