"""A failing statement's error (what the logs and a 500's traceback carry) shows the SQL but
never the bound values."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from adapters.db import create_engine
from adapters.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_failing_statement_does_not_quote_its_parameters(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            with pytest.raises(exc.DBAPIError) as failed:
                await conn.execute(
                    text("select cast(:email as text), 1 / 0"), {"email": "ada@example.com"}
                )
    finally:
        await engine.dispose()
    message = str(failed.value)
    assert "division by zero" in message
    assert "ada@example.com" not in message
