"""The async SQLAlchemy engine, built from `DATABASE_URL`.

Round trips are the cost that matters here (each is a pair of system calls, and every order
makes dozens), so:

- **No pre-ping.** SQLAlchemy's asyncpg pre-ping is three round trips per checkout (BEGIN,
  `;`, ROLLBACK). A checkout instead asks asyncpg whether the server closed the socket, which
  is what a PostgreSQL restart or a terminated backend does, and takes a fresh connection if
  so. A failure on a connection that still looked open invalidates the whole pool (the
  dialect's disconnect handling), and the caller's retry gets new connections.
- **`autocommit(engine)` for single statements.** A statement needs no BEGIN and COMMIT (or
  ROLLBACK) around it to be atomic; `engine.begin()` remains for work that spans statements.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.settings import Settings


def async_url(url: str) -> str:
    """Accept `postgres://`, `postgresql://` or `postgresql+asyncpg://` and use asyncpg."""
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set; `make run` starts an embedded PostgreSQL and sets it"
        )
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(settings: Settings) -> AsyncEngine:
    """One pooled engine per process."""
    engine = create_async_engine(
        async_url(settings.database_url),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        # errors and echo logs show the SQL, never the bound values (emails, addresses,
        # password hashes, card fingerprints)
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, without BEGIN/COMMIT: for work that is one statement."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _refuse_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Hand out no connection whose socket the server closed; the pool tries another."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this connection")


def data_refusal(error: exc.DBAPIError, *, constraints: bool = False) -> str | None:
    """What PostgreSQL refused in the data itself, so that the same statement fails again: a
    data exception (SQLSTATE class 22: text it cannot encode, a value too long or out of
    range) or, with `constraints`, an integrity violation (class 23); None for anything else.

    asyncpg's data exceptions reach SQLAlchemy as a plain `DBAPIError`, not its `DataError`,
    so the SQLSTATE decides. The answer names the error, never the values (as `hide_parameters`
    keeps them out of errors)."""
    refused = error.orig
    sqlstate = getattr(refused, "sqlstate", None) or ""
    if refused is None or not (sqlstate[:2] == "22" or (constraints and sqlstate[:2] == "23")):
        return None
    return f"{type(refused.__cause__ or refused).__name__} (SQLSTATE {sqlstate})"


RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)
"""Seconds between attempts at work that waits for the database to answer again (the
status listener, the seed of MERCHANT_WEBHOOK_URL's endpoint); the last repeats."""


def reconnect_delay(attempt: int) -> float:
    """The wait before retry number `attempt` (0 first)."""
    return RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]


def unreachable(error: BaseException) -> bool:
    """The database did not answer (refused, reset, gone): the same work may succeed later.
    A statement's own failure on a live connection is not that."""
    if isinstance(error, exc.DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, OSError)
