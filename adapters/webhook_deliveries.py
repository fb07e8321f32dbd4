"""The merchant webhook delivery log in PostgreSQL: deliveries, their claims and attempts,
and each endpoint's health (activities/webhooks.py says how they are used).

A claim locks the delivery row for one transaction and holds it for a lease, as the
notifications' claims do (adapters/notification_store.py): two attempts of one delivery never
talk to its endpoint at once. Times of attempts are the ones the activity passes in (the
Temporal server's clock, skipped on the test server), so failing for three days is measured
on that clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    Interval,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from activities.notification_ports import UnknownOrder
from activities.webhook_ports import DisabledEndpoint, PlannedDelivery, WebhookClaim
from adapters.db import autocommit
from adapters.tables import webhook_attempts, webhook_deliveries, webhook_endpoints

_d, _e, _a = webhook_deliveries.c, webhook_endpoints.c, webhook_attempts.c
_at = bindparam("p_at", type_=DateTime(timezone=True))
_series = bindparam("p_series", type_=Integer)
_TAKES = and_(
    _e.enabled,
    or_(_e.events.has_key("*"), _e.events.has_key(bindparam("p_event", type_=String))),
)
"""An enabled endpoint taking the event."""
SUBSCRIBED = select(exists().where(_TAKES))
_planned = (
    insert(webhook_deliveries)
    .from_select(
        [
            "id",
            "endpoint_id",
            "event_id",
            "event",
            "order_id",
            "occurrence",
            "event_created_at",
            "next_attempt_at",
        ],
        select(
            literal("wd_") + func.left(func.md5(func.random().cast(String) + _e.id), 20),
            _e.id,
            bindparam("p_event_id", type_=String),
            bindparam("p_event", type_=String),
            bindparam("p_order_id", type_=String),
            bindparam("p_occurrence", type_=Integer),
            func.now(),
            func.now(),
        ).where(_TAKES),
    )
    .on_conflict_do_nothing(index_elements=[_d.endpoint_id, _d.event_id])
    .returning(_d.id)
    .cte("planned")
)
PLAN = union(
    select(_planned.c.id),
    select(_d.id).where(_d.event_id == bindparam("p_event_id", type_=String)),
)
"""Insert the missing deliveries (one `now()` for all: the event's time) and list them all;
the outer read does not see the rows the same statement inserts, hence the union."""
CLAIMED = (
    select(
        _d.id,
        _d.series,
        _d.sent_series,
        (_d.claimed_until > func.now()).label("held"),
        _d.event_id,
        _d.event,
        _d.order_id,
        _d.occurrence,
        _d.event_created_at,
        _d.body,
        _e.id.label("endpoint_id"),
        _e.url,
        _e.enabled,
        _e.secret,
        _e.previous_secret,
        _e.previous_secret_until,
        _e.description,
        _e.failing_since,
        _e.disabled_at,
        _e.disabled_reason,
        _e.disabled_notified_at,
    )
    .join(webhook_endpoints, _e.id == _d.endpoint_id)
    .where(_d.id == bindparam("p_id"))
    .with_for_update(of=webhook_deliveries)
)
_ATTEMPT = and_(_a.delivery_id == bindparam("p_id"), _a.seq == bindparam("p_seq"))
_DELIVERY = _d.id == bindparam("p_id")
HOLD = (
    update(webhook_deliveries)
    .where(_DELIVERY)
    .values(
        claim_token=bindparam("p_token"),
        claimed_until=func.now() + bindparam("p_lease", type_=Interval),
        updated_at=func.now(),
    )
)
DEAD = (
    update(webhook_attempts)
    .where(_a.delivery_id == bindparam("p_id"), _a.outcome == "running")
    .values(outcome="failed", error="the attempt ended without recording an answer")
)
"""Attempts still running when their claim's lease ran out died holding it."""
_next_seq = (
    select(func.coalesce(func.max(_a.seq), 0) + 1)
    .where(_a.delivery_id == bindparam("p_id"))
    .scalar_subquery()
)
ATTEMPT = (
    insert(webhook_attempts)
    .values(delivery_id=bindparam("p_id"), seq=_next_seq, series=bindparam("p_series"), at=_at)
    .returning(_a.seq)
)
FREEZE = (
    update(webhook_deliveries)
    .where(_DELIVERY)
    .values(body=func.coalesce(_d.body, bindparam("p_body")), updated_at=func.now())
    .returning(_d.body)
)
ATTEMPT_SENT = (
    update(webhook_attempts)
    .where(_ATTEMPT)
    .values(outcome="sent", status_code=bindparam("p_status_code"), error=None)
)
DELIVERY_SENT = (
    update(webhook_deliveries)
    .where(_DELIVERY)
    .values(
        status=case((_d.series <= _series, "sent"), else_=_d.status),
        sent_series=func.greatest(_d.sent_series, _series),
        sent_at=func.now(),
        next_attempt_at=None,
        last_error=None,
        claim_token=None,
        claimed_until=None,
        updated_at=func.now(),
    )
    .returning(_d.endpoint_id)
)
"""Sent, whoever holds the claim; the status only for the current series (a redelivery
started meanwhile is still pending)."""
RECOVERED = (
    update(webhook_endpoints)
    .where(_e.id == bindparam("p_endpoint_id"), _e.failing_since.is_not(None))
    .values(failing_since=None, updated_at=func.now())
)
ATTEMPT_FAILED = (
    update(webhook_attempts)
    .where(_ATTEMPT)
    .values(outcome="failed", status_code=bindparam("p_status_code"), error=bindparam("p_error"))
)
RELEASED = (
    update(webhook_deliveries)
    .where(_DELIVERY, _d.claim_token == bindparam("p_token"))
    .values(
        last_error=bindparam("p_error"),
        next_attempt_at=bindparam("p_next_at"),
        claim_token=None,
        claimed_until=None,
        updated_at=func.now(),
    )
)
FAILING = (
    update(webhook_endpoints)
    .where(_e.id == bindparam("p_endpoint_id"))
    .values(failing_since=func.coalesce(_e.failing_since, _at), updated_at=func.now())
)
DISABLE = (
    update(webhook_endpoints)
    .where(
        _e.id == bindparam("p_endpoint_id"),
        _e.enabled,
        _e.failing_since <= _at - bindparam("p_after", type_=Interval),
    )
    .values(
        enabled=False,
        disabled_at=_at,
        disabled_reason=bindparam("p_reason"),
        disabled_notified_at=None,
        updated_at=func.now(),
    )
    .returning(
        _e.id.label("endpoint_id"),
        _e.url,
        _e.description,
        _e.failing_since,
        _e.disabled_at,
        _e.disabled_reason,
    )
)
"""Turn the endpoint off if it has failed every attempt since `at - after`; returns it only
to the one attempt that did."""
GIVE_UP = (
    update(webhook_deliveries)
    .where(_DELIVERY, _d.series == _series, _d.sent_series < _series)
    .values(
        status="failed",
        last_error=bindparam("p_error"),
        next_attempt_at=None,
        claim_token=None,
        claimed_until=None,
        updated_at=func.now(),
    )
)
ANNOUNCED = (
    update(webhook_endpoints)
    .where(_e.id == bindparam("p_endpoint_id"), _e.disabled_notified_at.is_(None))
    .values(disabled_notified_at=func.now())
)
_FINISHED_BEFORE = and_(
    _d.status != "pending", _d.updated_at < bindparam("p_cutoff", type_=DateTime(timezone=True))
)
EXPIRED = delete(webhook_deliveries).where(
    _d.id.in_(
        select(_d.id)
        .where(_FINISHED_BEFORE)
        .order_by(_d.updated_at)
        .limit(bindparam("p_batch", type_=Integer))
    ),
    _FINISHED_BEFORE,  # checked again on the row it deletes: a redelivery since is kept
)
"""One batch of the retention: finished deliveries untouched since the cutoff, oldest first;
their attempts go with them (the foreign key cascades)."""

FAILING_REASON = "every delivery failed for"
"""How the reason of an endpoint turned off for failing begins (an operator's differs)."""


def _p(**values: Any) -> dict[str, Any]:
    """Bound values by the statements' parameter names (`p_` keeps them apart from the
    columns an INSERT or UPDATE sets)."""
    return {f"p_{name}": value for name, value in values.items()}


def _failed_off(row: Any) -> bool:
    """Turned off for failing, not by an operator: only then is the operator emailed."""
    return row.disabled_at is not None and (row.disabled_reason or "").startswith(FAILING_REASON)


def _disabled(row: Any) -> DisabledEndpoint:
    return DisabledEndpoint(
        id=row.endpoint_id,
        url=row.url,
        description=row.description,
        failing_since=row.failing_since,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason or "disabled",
    )


class WebhookDeliveries:
    """The delivery log's writes for the delivering activities, and the channel's check."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._single = autocommit(engine)

    async def subscribed(self, event: str) -> bool:
        async with self._single.connect() as conn:
            return bool((await conn.execute(SUBSCRIBED, _p(event=event))).scalar())

    async def plan(self, order_id: str, event: str, occurrence: int, event_id: str) -> list[str]:
        params = _p(order_id=order_id, event=event, occurrence=occurrence, event_id=event_id)
        try:
            async with self._single.connect() as conn:
                rows = await conn.execute(PLAN, params)
        except IntegrityError as error:  # the foreign key: no such order
            raise UnknownOrder(order_id) from error
        return sorted(rows.scalars())

    async def claim(
        self, delivery_id: str, series: int, token: str, lease: timedelta, at: datetime
    ) -> WebhookClaim:
        """Lock the delivery, decide, and if it is this attempt's: hold it for `lease`, mark
        attempts that died holding an older claim, and write this attempt's row."""
        params = _p(id=delivery_id, series=series, token=token, lease=lease, at=at)
        async with self._engine.begin() as conn:
            row = (await conn.execute(CLAIMED, params)).first()
            if row is None:
                return WebhookClaim(outcome="gone")
            if row.sent_series >= series:
                return WebhookClaim(outcome="sent")
            if row.series > series:
                return WebhookClaim(outcome="superseded")
            if not row.enabled:
                told = row.disabled_notified_at is not None or not _failed_off(row)
                return WebhookClaim(
                    outcome="disabled", unannounced=None if told else _disabled(row)
                )
            if row.held:
                return WebhookClaim(outcome="busy")
            return await self._take(conn, row, params)

    async def _take(self, conn: AsyncConnection, row: Any, params: dict[str, Any]) -> WebhookClaim:
        await conn.execute(HOLD, params)
        await conn.execute(DEAD, params)
        attempt = (await conn.execute(ATTEMPT, params)).scalar_one()
        secrets = [row.secret]
        until = row.previous_secret_until
        if row.previous_secret and until is not None and until > params["p_at"]:
            secrets.append(row.previous_secret)
        delivery = PlannedDelivery(
            id=row.id,
            endpoint_id=row.endpoint_id,
            url=row.url,
            secrets=secrets,
            event_id=row.event_id,
            event=row.event,
            order_id=row.order_id,
            occurrence=row.occurrence,
            event_created_at=row.event_created_at,
            body=row.body,
        )
        return WebhookClaim(outcome="claimed", attempt=attempt, delivery=delivery)

    async def freeze(self, delivery_id: str, body: str) -> str:
        async with self._single.connect() as conn:
            stored = (await conn.execute(FREEZE, _p(id=delivery_id, body=body))).scalar()
        return stored or body

    async def sent(self, delivery_id: str, series: int, attempt: int, status_code: int) -> None:
        params = _p(id=delivery_id, series=series, seq=attempt, status_code=status_code)
        async with self._engine.begin() as conn:
            await conn.execute(ATTEMPT_SENT, params)
            endpoint_id = (await conn.execute(DELIVERY_SENT, params)).scalar()
            if endpoint_id is not None:
                await conn.execute(RECOVERED, _p(endpoint_id=endpoint_id))

    async def failed(
        self,
        delivery: PlannedDelivery,
        attempt: int,
        token: str,
        *,
        status_code: int | None,
        error: str,
        at: datetime,
        next_at: datetime,
        disable_after: timedelta,
    ) -> DisabledEndpoint | None:
        params = _p(
            id=delivery.id,
            seq=attempt,
            token=token,
            status_code=status_code,
            error=error,
            next_at=next_at,
            endpoint_id=delivery.endpoint_id,
            at=at,
            after=disable_after,
            reason=f"{FAILING_REASON} {disable_after.days} days; last error: {error}",
        )
        async with self._engine.begin() as conn:
            await conn.execute(ATTEMPT_FAILED, params)
            await conn.execute(RELEASED, params)
            await conn.execute(FAILING, params)
            turned_off = (await conn.execute(DISABLE, params)).first()
        return None if turned_off is None else _disabled(turned_off)

    async def interrupted(
        self, delivery_id: str, attempt: int, token: str, error: str, next_at: datetime
    ) -> None:
        params = _p(
            id=delivery_id, seq=attempt, token=token, status_code=None, error=error, next_at=next_at
        )
        async with self._engine.begin() as conn:
            await conn.execute(ATTEMPT_FAILED, params)
            await conn.execute(RELEASED, params)

    async def give_up(self, delivery_id: str, series: int, error: str) -> None:
        async with self._single.connect() as conn:
            await conn.execute(GIVE_UP, _p(id=delivery_id, series=series, error=error))

    async def delete_finished_before(self, cutoff: datetime, batch: int) -> int:
        """Delete at most `batch` finished deliveries (sent or failed) untouched since before
        `cutoff`, with their attempts; the number deleted. A pending delivery, a redelivery
        under way included, is never deleted."""
        async with self._single.connect() as conn:
            deleted = await conn.execute(EXPIRED, _p(cutoff=cutoff, batch=batch))
        return int(deleted.rowcount)

    async def announced(self, endpoint_id: str) -> None:
        async with self._single.connect() as conn:
            await conn.execute(ANNOUNCED, _p(endpoint_id=endpoint_id))
