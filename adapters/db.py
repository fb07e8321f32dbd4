"""The async SQLAlchemy engine, built from `DATABASE_URL`."""

from __future__ import annotations

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
    return create_async_engine(
        async_url(settings.database_url),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
    )
