"""GET /metrics: open by default, behind a bearer token with METRICS_TOKEN; the orders-by-
status count runs at most every METRICS_REFRESH_SECONDS however often it is scraped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import event

from adapters.settings import Settings
from tests.integration.apps import app_client

pytestmark = pytest.mark.integration

TOKEN = "metrics-token-for-the-scraper-0123456789"


async def test_metrics_need_the_token_once_one_is_set(settings: Settings) -> None:
    async with app_client(settings, metrics_token=SecretStr(TOKEN)) as api:
        assert (await api.get("/metrics")).status_code == 401
        wrong = await api.get("/metrics", headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        assert wrong.json()["type"] == "/problems/unauthorized"
        scraped = await api.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        assert "engine_orders" in scraped.text
    async with app_client(settings) as api:
        assert (await api.get("/metrics")).status_code == 200


async def _order_counts(settings: Settings, scrapes: int, **overrides: Any) -> int:
    """How many times the orders-by-status statement ran for `scrapes` scrapes."""
    apps: list[FastAPI] = []
    statements: list[str] = []
    async with app_client(settings, extend=apps.append, **overrides) as api:
        engine = apps[0].state.engine.sync_engine

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "GROUP BY orders.status" in statement:
                statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        answers = await asyncio.gather(*(api.get("/metrics") for _ in range(scrapes // 2)))
        for _ in range(scrapes - scrapes // 2):
            answers.append(await api.get("/metrics"))
        assert {answer.status_code for answer in answers} == {200}
    return len(statements)


async def test_scrapes_share_one_count_per_refresh_interval(settings: Settings) -> None:
    assert await _order_counts(settings, 6, metrics_refresh_seconds=3600) == 1
    assert await _order_counts(settings, 4, metrics_refresh_seconds=0) == 4
