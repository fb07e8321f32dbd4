"""The engine's pool without pre-ping: closed connections are skipped, statements commit."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from adapters.db import autocommit, create_engine
from adapters.settings import Settings


@pytest.mark.parametrize("mode", ["transactional", "autocommit"])
async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    settings: Settings, mode: str
) -> None:
    engine = create_engine(settings)
    admin = create_engine(settings)
    user = engine if mode == "transactional" else autocommit(engine)
    try:
        async with user.connect() as conn:
            victim = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()
        async with admin.connect() as conn:  # as a restart would, for this one backend
            await conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": victim})
        await asyncio.sleep(0.2)  # the loop reads the server's goodbye and the EOF

        async with user.connect() as conn:
            now = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()

        assert now != victim
    finally:
        await engine.dispose()
        await admin.dispose()


async def test_autocommit_statements_need_no_commit_and_transactions_still_roll_back(
    settings: Settings,
) -> None:
    engine = create_engine(settings)
    try:
        async with autocommit(engine).connect() as conn:
            await conn.execute(text("create table if not exists db_test_t (n int)"))
            await conn.execute(text("delete from db_test_t"))
            await conn.execute(text("insert into db_test_t values (1)"))
            # no commit: the statement committed on its own
        try:
            async with engine.begin() as conn:
                await conn.execute(text("insert into db_test_t values (2)"))
                raise RuntimeError("abandon")
        except RuntimeError:
            pass
        async with engine.connect() as conn:
            rows = (await conn.execute(text("select n from db_test_t"))).scalars().all()
            await conn.execute(text("drop table db_test_t"))
            await conn.commit()

        assert rows == [1]
    finally:
        await engine.dispose()
