"""A refusal answers one way whichever side made it: a workflow's `ApplicationError` type is
turned back into its domain class (`api/order_client.py`), and `api/errors.py` maps classes,
not slugs, to the statuses the API has always answered."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from api import errors
from api.errors import Problem, domain_status
from api.order_client import refusal
from domain.errors import DomainError, OutOfStock, UnknownProduct

STATUS_BY_CODE = {
    "invalid-order": 422,
    "currency-mismatch": 422,
    "invalid-text": 422,
    "unknown-product": 422,
    "out-of-stock": 409,
    "invalid-state": 409,
    "not-cancellable": 409,
    "refund-too-large": 422,
    "idempotency-key-reused": 422,
    "payment-capture-failed": 502,
    "refund-failed": 502,
    "card-declined": 502,
    "amount-mismatch": 502,
    "payment-refused": 502,
    "domain-error": 409,
}


@pytest.mark.parametrize(("code", "status"), sorted(STATUS_BY_CODE.items()))
def test_each_refusal_answers_its_status(code: str, status: int) -> None:
    error = refusal(code, "refused", [])
    assert isinstance(error, DomainError)
    assert (error.code, domain_status(error)) == (code, status)


def test_a_workflow_refusal_keeps_its_message_and_skus() -> None:
    error = refusal("out-of-stock", "out of stock: MUG (2 left)", ["MUG"])
    assert isinstance(error, OutOfStock)
    assert (str(error), error.skus) == ("out of stock: MUG (2 left)", ["MUG"])


def test_a_type_that_is_no_domain_code_is_a_conflict_under_its_own_slug() -> None:
    error = refusal("SomethingElse", "no", ["A"])
    assert isinstance(error, Problem)
    assert (error.status, error.slug, error.detail, error.extra) == (
        409,
        "SomethingElse",
        "no",
        {"skus": ["A"]},
    )


async def _answer(raised: Exception) -> dict[str, object]:
    app = FastAPI()
    errors.install(app)

    @app.get("/refuse")
    async def _refuse() -> None:
        raise raised

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        answer = await http.get("/refuse")
    assert answer.headers["content-type"] == "application/problem+json"
    return {"status": answer.status_code, **answer.json()}


async def test_a_domain_error_raised_in_a_route_is_its_problem() -> None:
    assert await _answer(UnknownProduct(skus=["NOPE"])) == {
        "status": 422,
        "type": "/problems/unknown-product",
        "title": "Unprocessable Entity",
        "detail": "unknown sku: NOPE",
        "skus": ["NOPE"],
    }
    assert await _answer(refusal("refund-failed", "the card was closed", [])) == {
        "status": 502,
        "type": "/problems/refund-failed",
        "title": "Bad Gateway",
        "detail": "the card was closed",
    }
