"""Merchant webhook endpoints and their delivery log in PostgreSQL, as the API edits and reads
them (the deliveries themselves are written by the notification workers).

Deleting an endpoint deletes its deliveries and their attempts (the foreign keys cascade): a
delivery still being retried finds its row gone and ends. A secret's rotation keeps the old
one signing beside the new for `ROTATION_OVERLAP`, so receivers can switch without a gap.
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import case, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.db import autocommit, reconnect_delay, unreachable
from adapters.settings import Settings
from adapters.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from workflows.webhook_contracts import SEEDED_ENDPOINT_ID, new_endpoint_id

ROTATION_OVERLAP = timedelta(hours=24)
"""How long the previous secret still signs after a rotation."""

DELETE_TRIES = 3
DEADLOCK = "40P01"
"""PostgreSQL's SQLSTATE for a transaction it aborted to break a deadlock."""

SEEDED_DESCRIPTION = "MERCHANT_WEBHOOK_URL"
"""The description of the endpoint the environment seeds: where its URL comes from."""

log = structlog.get_logger()

Position = tuple[datetime, str]
"""A keyset position: the (created_at, id) of the last row of the page before."""

_e = webhook_endpoints.c
_DISABLED_STATE = ("failing_since", "disabled_at", "disabled_reason", "disabled_notified_at")
"""What enabling an endpoint forgets: its failures so far and its disabling."""
_d = webhook_deliveries.c
_a = webhook_attempts.c


def new_secret() -> str:
    """A signing secret: shown to the merchant once, on creation or rotation."""
    return "whsec_" + secrets.token_urlsafe(32)


def _newest_first(query: Any, columns: Any, after: Position | None) -> Any:
    """Keyset order on (created_at, id), descending: inserts while paging shift nothing."""
    query = query.order_by(columns.created_at.desc(), columns.id.desc())
    if after is not None:
        query = query.where(tuple_(columns.created_at, columns.id) < tuple_(*after))
    return query


class EndpointStore:
    """Creates, reads, edits and deletes endpoints; reads and restarts their deliveries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def _one(self, statement: Any) -> dict[str, Any] | None:
        async with self._reads.connect() as conn:
            row = (await conn.execute(statement)).mappings().first()
            return dict(row) if row else None

    async def create(
        self, *, url: str, events: list[str], description: str, secret: str
    ) -> dict[str, Any]:
        statement = (
            insert(webhook_endpoints)
            .values(
                id=new_endpoint_id(),
                url=url,
                events=events,
                description=description,
                secret=secret,
            )
            .returning(*webhook_endpoints.c)
        )
        row = await self._one(statement)
        assert row is not None  # an INSERT without ON CONFLICT returns its row or raises
        return row

    async def page(self, *, limit: int, after: Position | None) -> list[dict[str, Any]]:
        """Newest first."""
        query = _newest_first(select(webhook_endpoints), _e, after).limit(limit)
        async with self._reads.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def get(self, endpoint_id: str) -> dict[str, Any] | None:
        return await self._one(select(webhook_endpoints).where(_e.id == endpoint_id))

    async def update(self, endpoint_id: str, **changes: Any) -> dict[str, Any] | None:
        """Change `url`, `events`, `description` or `enabled`; None when there is no such
        endpoint. Enabling a disabled endpoint forgets why it was disabled and since when it
        was failing (its three days start again); disabling one by hand records it."""
        values: dict[str, Any] = {**changes, "updated_at": func.now()}
        enabled = changes.get("enabled")
        if enabled is True:
            for column in _DISABLED_STATE:
                values[column] = case((_e.enabled, webhook_endpoints.c[column]), else_=None)
        elif enabled is False:
            values["disabled_at"] = case((_e.enabled, func.now()), else_=_e.disabled_at)
            values["disabled_reason"] = case(
                (_e.enabled, "disabled by an operator"), else_=_e.disabled_reason
            )
        statement = (
            update(webhook_endpoints)
            .where(_e.id == endpoint_id)
            .values(values)
            .returning(*webhook_endpoints.c)
        )
        return await self._one(statement)

    async def delete(self, endpoint_id: str) -> bool:
        """Delete the endpoint, its deliveries and their attempts; False when there was none.

        A delivery attempt recording its answer locks its attempt, then its delivery, then the
        endpoint; the foreign keys' cascade would lock them the other way round. So the rows go
        in the attempt's order, and a deadlock with a claim (delivery, then attempts) that
        PostgreSQL settles by aborting this transaction is tried again."""
        of_endpoint = select(_d.id).where(_d.endpoint_id == endpoint_id)
        statements = (
            delete(webhook_attempts).where(_a.delivery_id.in_(of_endpoint)),
            delete(webhook_deliveries).where(_d.endpoint_id == endpoint_id),
            delete(webhook_endpoints).where(_e.id == endpoint_id).returning(_e.id),
        )
        for _ in range(DELETE_TRIES - 1):
            try:
                return await self._delete(statements)
            except DBAPIError as error:
                if getattr(error.orig, "sqlstate", None) != DEADLOCK:
                    raise
        return await self._delete(statements)

    async def _delete(self, statements: tuple[Any, ...]) -> bool:
        async with self._engine.begin() as conn:
            for statement in statements:
                deleted = await conn.execute(statement)
            return deleted.first() is not None

    async def rotate(self, endpoint_id: str, new_secret: str) -> dict[str, Any] | None:
        """Sign with `new_secret` from now on, and with the current one too for a day."""
        statement = (
            update(webhook_endpoints)
            .where(_e.id == endpoint_id)
            .values(
                secret=new_secret,
                previous_secret=_e.secret,
                previous_secret_until=func.now() + ROTATION_OVERLAP,
                updated_at=func.now(),
            )
            .returning(*webhook_endpoints.c)
        )
        return await self._one(statement)

    async def seed(self, url: str, secret: str) -> None:
        """Create or refresh the endpoint MERCHANT_WEBHOOK_URL names, `we_env` for every event.

        Run at every start of every API process, so it changes nothing when nothing changed.
        The URL follows the environment. A secret the endpoint does not know yet (neither its
        current one nor its previous one) becomes its current one, the old one signing beside
        it for a day, as a rotation; a secret it knows is left alone, so a rotation made
        through the API is not undone by the next start. Its events, description and whether
        it is enabled stay as an operator may have set them."""
        new = insert(webhook_endpoints).values(
            id=SEEDED_ENDPOINT_ID,
            url=url,
            events=["*"],
            description=SEEDED_DESCRIPTION,
            secret=secret,
        )
        known = or_(
            new.excluded.secret == _e.secret,
            new.excluded.secret == func.coalesce(_e.previous_secret, ""),
        )
        statement = new.on_conflict_do_update(
            index_elements=[_e.id],
            set_={
                "url": new.excluded.url,
                "secret": case((known, _e.secret), else_=new.excluded.secret),
                "previous_secret": case((known, _e.previous_secret), else_=_e.secret),
                "previous_secret_until": case(
                    (known, _e.previous_secret_until),
                    else_=func.now() + ROTATION_OVERLAP,
                ),
                "updated_at": func.now(),
            },
            where=or_(_e.url != new.excluded.url, ~known),
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def seed_configured(self, settings: Settings) -> None:
        """Seed the endpoint MERCHANT_WEBHOOK_URL names, if it names one."""
        if not settings.merchant_webhook_url:
            return
        if settings.merchant_webhook_secret is None:
            raise ValueError("MERCHANT_WEBHOOK_SECRET is required with MERCHANT_WEBHOOK_URL")
        secret = settings.merchant_webhook_secret.get_secret_value()
        await self.seed(settings.merchant_webhook_url, secret)

    async def deliveries(
        self,
        endpoint_id: str,
        *,
        status: str | None,
        limit: int,
        after: Position | None,
    ) -> list[dict[str, Any]]:
        """The endpoint's deliveries, newest first, each with its `attempts` in the order they
        were made: two queries for the page, whatever its length."""
        query = select(webhook_deliveries).where(_d.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(_d.status == status)
        query = _newest_first(query, _d, after).limit(limit)
        async with self._reads.connect() as conn:
            rows = [dict(row) for row in (await conn.execute(query)).mappings()]
            await _with_attempts(conn, rows)
        return rows

    async def redeliver(
        self, endpoint_id: str, delivery_id: str
    ) -> tuple[dict[str, Any], int, dict[str, Any]] | None:
        """Start a new attempt series of the delivery (the same event id, the same body):
        the delivery, its new series and what it was before (for `restore`), or None when
        it is not the endpoint's."""
        before = (
            select(_d.status, _d.next_attempt_at, _d.last_error)
            .where(_d.id == delivery_id, _d.endpoint_id == endpoint_id)
            .with_for_update()
        )
        statement = (
            update(webhook_deliveries)
            .where(_d.id == delivery_id, _d.endpoint_id == endpoint_id)
            .values(
                series=_d.series + 1,
                status="pending",
                next_attempt_at=func.now(),
                last_error=None,
                updated_at=func.now(),
            )
            .returning(*webhook_deliveries.c)
        )
        async with self._engine.begin() as conn:
            previous = (await conn.execute(before)).mappings().first()
            if previous is None:
                return None
            row = (await conn.execute(statement)).mappings().one()
            rows = [dict(row)]
            await _with_attempts(conn, rows)
        return rows[0], rows[0]["series"], dict(previous)

    async def restore(self, delivery_id: str, series: int, previous: dict[str, Any]) -> None:
        """Take back a series whose workflow could not be started (Temporal down), so the
        log does not show a `pending` delivery nothing will ever attempt."""
        statement = (
            update(webhook_deliveries)
            .where(_d.id == delivery_id, _d.series == series, _d.sent_series < series)
            .values(series=series - 1, updated_at=func.now(), **previous)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)


async def _with_attempts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Put each delivery's attempts in its `attempts`, read in one query."""
    by_id: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    for row in rows:
        row["attempts"] = by_id[row["id"]]
    if not by_id:
        return
    query = (
        select(webhook_attempts)
        .where(_a.delivery_id.in_(list(by_id)))
        .order_by(_a.delivery_id, _a.seq)
    )
    for attempt in (await conn.execute(query)).mappings():
        by_id[attempt["delivery_id"]].append(dict(attempt))


class Seeding:
    """MERCHANT_WEBHOOK_URL's endpoint, seeded as an API process starts.

    The API starts without its database (it answers 503 until the database is back), so a
    seed the database does not answer is made in the background as soon as it does, instead
    of failing the start. A configuration error (the URL without its secret) or a statement
    the database refuses still fails the start, where the operator sees it."""

    def __init__(self, retrying: asyncio.Task[None] | None = None) -> None:
        self.retrying = retrying

    @classmethod
    async def start(cls, store: EndpointStore, settings: Settings) -> Seeding:
        try:
            await store.seed_configured(settings)
        except (OSError, DBAPIError) as error:
            if not unreachable(error):
                raise
            log.warning("webhook_endpoint_seed_deferred", error=type(error).__name__)
            loop = asyncio.get_running_loop()
            return cls(loop.create_task(_seed_when_answered(store, settings)))
        return cls()

    async def stop(self) -> None:
        if self.retrying is not None and not self.retrying.done():
            self.retrying.cancel()
            with suppress(asyncio.CancelledError):
                await self.retrying


async def _seed_when_answered(store: EndpointStore, settings: Settings) -> None:
    attempt = 0
    while True:
        await asyncio.sleep(reconnect_delay(attempt))
        attempt += 1
        try:
            await store.seed_configured(settings)
        except (OSError, DBAPIError) as error:
            if unreachable(error):
                log.warning("webhook_endpoint_seed_deferred", error=type(error).__name__)
                continue
            log.exception("webhook_endpoint_seed_failed")
            return
        log.info("webhook_endpoint_seeded", attempts=attempt + 1)
        return
