"""Merchant webhook endpoints through the API, on the real stack: the secret shown on creation
and rotation only, paging, changes, deletion with the delivery log, the log itself and
redelivery as a new attempt series started in Temporal, seeding from the environment; every
bad URL, event or field a 422, a customer a 403, an id that is not the endpoint's a 404, each
changing nothing.

Endpoints that must be saved point at loopback (`WEBHOOK_ALLOW_LOOPBACK_HTTP` on, an app of
this module's own) and every endpoint a test makes is deleted after it, so no delivery of
another test's orders ever goes to one."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from adapters.settings import Settings
from adapters.tables import orders, webhook_attempts, webhook_deliveries, webhook_endpoints
from adapters.webhook_endpoints import EndpointStore
from devstack.services import free_port, start_temporal
from tests.integration.apps import Relay, app_client
from tests.integration.helpers import customer, insert_customer, operator
from tests.integration.test_api_errors import assert_problem
from workflows.names import NOTIFICATIONS_QUEUE
from workflows.webhook_contracts import (
    SEEDED_ENDPOINT_ID,
    WEBHOOK_DELIVERY_WORKFLOW,
    WebhookDelivery,
    event_id,
    new_delivery_id,
    webhook_delivery_workflow_id,
)

pytestmark = pytest.mark.integration

REFUSING = "http://127.0.0.1:9/hooks"
"""Loopback's discard port: nothing answers there, should anything ever be sent."""
BASE = "/v1/webhook-endpoints"
BAD = {"nul": "\x00", "escape": "\x1b", "del": "\x7f", "c1": "\x9b", "surrogate": "\ud800"}


@pytest.fixture(scope="module")
async def loopback_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API with `WEBHOOK_ALLOW_LOOPBACK_HTTP` on, as `make run` has it."""
    async with app_client(settings, webhook_allow_loopback_http=True) as http:
        yield http


@pytest.fixture
async def op(api: httpx.AsyncClient) -> dict[str, str]:
    return await operator(api)


@pytest.fixture(autouse=True)
async def only_this_tests_endpoints(engine: AsyncEngine) -> AsyncIterator[None]:
    """Deletes the endpoints the test made (their deliveries and attempts go with them)."""
    async with engine.connect() as conn:
        before = set((await conn.execute(select(webhook_endpoints.c.id))).scalars())
    yield
    async with engine.connect() as conn:
        after = set((await conn.execute(select(webhook_endpoints.c.id))).scalars())
    store = EndpointStore(engine)
    for endpoint_id in after - before:
        await store.delete(endpoint_id)  # as the API does: never deadlocks with a delivery


@pytest.fixture(scope="module")
async def order_id(engine: AsyncEngine) -> str:
    """An order in the read model for deliveries to name (no workflow: nothing else moves)."""
    order = f"ord_{uuid.uuid4().hex[:20]}"
    customer_id = f"usr_{uuid.uuid4().hex[:20]}"
    async with engine.begin() as conn:
        await insert_customer(conn, customer_id, email=f"{customer_id}@example.com", name="Ada")
        await conn.execute(
            orders.insert().values(
                id=order,
                customer_id=customer_id,
                status="shipped",
                currency="EUR",
                total=1200,
                lines=[],
                shipping_address={"name": "Ada", "city": "London", "country": "GB"},
            )
        )
    return order


async def create(http: httpx.AsyncClient, op: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = await http.post(
        BASE, json={"url": REFUSING, "events": ["order_shipped"], **body}, headers=op
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def add_delivery(
    engine: AsyncEngine,
    endpoint_id: str,
    order_id: str,
    *,
    event: str = "order_shipped",
    occurrence: int = 1,
    status: str = "pending",
    attempts: tuple[tuple[str, int | None, str | None], ...] = (),
) -> str:
    """A delivery as the notification workers write one, with its (outcome, status code,
    error) attempts a second apart."""
    delivery_id = new_delivery_id()
    start = datetime.now(UTC) - timedelta(minutes=1)
    async with engine.begin() as conn:
        await conn.execute(
            webhook_deliveries.insert().values(
                id=delivery_id,
                endpoint_id=endpoint_id,
                event_id=event_id(order_id, event, occurrence),
                event=event,
                order_id=order_id,
                occurrence=occurrence,
                event_created_at=start,
                status=status,
                body='{"id": "frozen"}',
                last_error=attempts[-1][2] if attempts else None,
            )
        )
        for seq, (outcome, code, error) in enumerate(attempts, start=1):
            await conn.execute(
                webhook_attempts.insert().values(
                    delivery_id=delivery_id,
                    seq=seq,
                    series=1,
                    at=start + timedelta(seconds=seq),
                    outcome=outcome,
                    status_code=code,
                    error=error,
                )
            )
    return delivery_id


async def state(engine: AsyncEngine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every endpoint and delivery row: what a refused request must leave as it was."""
    async with engine.connect() as conn:
        endpoints = await conn.execute(select(webhook_endpoints).order_by(webhook_endpoints.c.id))
        deliveries = await conn.execute(
            select(webhook_deliveries).order_by(webhook_deliveries.c.id)
        )
        return [dict(r) for r in endpoints.mappings()], [dict(r) for r in deliveries.mappings()]


async def stored(engine: AsyncEngine, endpoint_id: str) -> dict[str, Any]:
    row = await stored_or_none(engine, endpoint_id)
    assert row is not None, endpoint_id
    return row


async def stored_or_none(engine: AsyncEngine, endpoint_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        query = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        row = (await conn.execute(query)).mappings().one_or_none()
        return dict(row) if row is not None else None


# --- create, read, list, change, delete, rotate ---------------------------------------------


async def test_a_new_endpoints_secret_is_shown_on_creation_only(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine
) -> None:
    created = await create(loopback_api, op, description="fulfilment")

    assert created["secret"].startswith("whsec_") and len(created["secret"]) >= 40
    assert created["id"].startswith("we_")
    assert (created["url"], created["events"]) == (REFUSING, ["order_shipped"])
    assert (created["description"], created["enabled"]) == ("fulfilment", True)
    assert (await stored(engine, created["id"]))["secret"] == created["secret"]
    read = await loopback_api.get(f"{BASE}/{created['id']}", headers=op)
    listed = await loopback_api.get(BASE, params={"limit": 100}, headers=op)
    patched = await loopback_api.patch(
        f"{BASE}/{created['id']}", json={"description": "x"}, headers=op
    )
    for answer in (read, listed, patched):
        assert answer.status_code == 200, answer.text
        assert created["secret"] not in answer.text and "secret" not in answer.json()
    assert read.json() == {k: v for k, v in created.items() if k != "secret"}


async def test_each_new_endpoint_gets_its_own_secret(
    loopback_api: httpx.AsyncClient, op: dict[str, str]
) -> None:
    first, second = await create(loopback_api, op), await create(loopback_api, op)

    assert first["id"] != second["id"]
    assert first["secret"] != second["secret"]


async def test_endpoints_are_listed_newest_first_in_pages(
    loopback_api: httpx.AsyncClient, op: dict[str, str]
) -> None:
    made = [(await create(loopback_api, op))["id"] for _ in range(3)]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await loopback_api.get(BASE, params=params, headers=op)
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 2
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in made] == made[::-1]


async def test_patch_changes_the_fields_given_and_nothing_else(
    loopback_api: httpx.AsyncClient, op: dict[str, str]
) -> None:
    created = await create(loopback_api, op, description="before")
    url = f"{BASE}/{created['id']}"

    events = await loopback_api.patch(url, json={"events": ["*"]}, headers=op)
    moved = await loopback_api.patch(
        url, json={"url": "http://localhost:9/other", "description": None}, headers=op
    )
    nothing = await loopback_api.patch(url, json={}, headers=op)

    assert events.json()["events"] == ["*"]
    assert events.json()["description"] == "before"
    assert moved.json()["url"] == "http://localhost:9/other"
    assert moved.json()["description"] == "before"  # null: left as it was
    assert nothing.status_code == 200
    assert nothing.json() == moved.json()
    updated = datetime.fromisoformat(moved.json()["updated_at"])
    assert updated > datetime.fromisoformat(created["updated_at"])


async def test_enabling_a_disabled_endpoint_forgets_its_failures(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]
    failing_since = datetime.now(UTC) - timedelta(days=3, hours=1)
    async with engine.begin() as conn:
        await conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(
                enabled=False,
                failing_since=failing_since,
                disabled_at=datetime.now(UTC),
                disabled_reason="every delivery failed for 3 days",
                disabled_notified_at=datetime.now(UTC),
            )
        )
    disabled = await loopback_api.get(f"{BASE}/{endpoint_id}", headers=op)

    enabled = await loopback_api.patch(f"{BASE}/{endpoint_id}", json={"enabled": True}, headers=op)

    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "every delivery failed for 3 days"
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    row = await stored(engine, endpoint_id)
    assert [row[c] for c in ("failing_since", "disabled_at", "disabled_notified_at")] == [None] * 3


async def test_enabling_an_enabled_endpoint_keeps_its_failing_clock(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine
) -> None:
    """The three days run from the first failure: an idle `enabled: true` must not restart them."""
    endpoint_id = (await create(loopback_api, op))["id"]
    failing_since = datetime.now(UTC) - timedelta(days=2)
    async with engine.begin() as conn:
        await conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(failing_since=failing_since)
        )

    await loopback_api.patch(f"{BASE}/{endpoint_id}", json={"enabled": True}, headers=op)

    assert (await stored(engine, endpoint_id))["failing_since"] == failing_since


async def test_an_operator_disabling_an_endpoint_is_its_reason(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]

    answer = await loopback_api.patch(f"{BASE}/{endpoint_id}", json={"enabled": False}, headers=op)

    assert answer.json()["enabled"] is False
    assert answer.json()["disabled_reason"] == "disabled by an operator"
    assert (await stored(engine, endpoint_id))["disabled_at"] is not None


async def test_deleting_an_endpoint_deletes_its_deliveries_and_attempts(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine, order_id: str
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]
    kept_id = (await create(loopback_api, op))["id"]
    gone = await add_delivery(engine, endpoint_id, order_id, attempts=(("failed", 500, "x"),))
    kept = await add_delivery(engine, kept_id, order_id, attempts=(("failed", 500, "x"),))

    deleted = await loopback_api.delete(f"{BASE}/{endpoint_id}", headers=op)
    again = await loopback_api.delete(f"{BASE}/{endpoint_id}", headers=op)

    assert deleted.status_code == 204 and deleted.content == b""
    assert_problem(again, 404, "not-found")
    assert_problem(await loopback_api.get(f"{BASE}/{endpoint_id}", headers=op), 404, "not-found")
    async with engine.connect() as conn:
        deliveries = set((await conn.execute(select(webhook_deliveries.c.id))).scalars()) & {
            gone,
            kept,
        }
        attempts = set((await conn.execute(select(webhook_attempts.c.delivery_id))).scalars()) & {
            gone,
            kept,
        }
    assert deliveries == attempts == {kept}


async def test_deleting_an_endpoint_waits_for_an_attempt_recording_its_answer(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine, order_id: str
) -> None:
    """An attempt records its failure on its attempt row, its delivery, then its endpoint
    (`adapters/webhook_deliveries.py`); the delete takes them in that order too, so it waits
    for the attempt instead of deadlocking with it."""
    endpoint_id = (await create(loopback_api, op))["id"]
    delivery_id = await add_delivery(
        engine, endpoint_id, order_id, attempts=(("running", None, None),)
    )
    store = EndpointStore(engine)

    async with engine.connect() as attempt:
        await attempt.execute(
            update(webhook_attempts)
            .where(webhook_attempts.c.delivery_id == delivery_id)
            .values(outcome="failed", status_code=500, error="HTTP 500")
        )
        await attempt.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(last_error="HTTP 500")
        )
        deleting = asyncio.create_task(store.delete(endpoint_id))
        await waiting_on_a_lock(engine, "DELETE FROM webhook_")
        await attempt.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(failing_since=datetime.now(UTC))
        )
        await attempt.commit()

    assert await deleting is True
    async with engine.connect() as conn:
        left = await conn.execute(
            select(webhook_deliveries.c.id).where(webhook_deliveries.c.id == delivery_id)
        )
        assert left.first() is None


async def waiting_on_a_lock(engine: AsyncEngine, statement: str) -> None:
    """Returns once a session runs `statement…` and waits for a row lock (a bounded poll)."""
    query = text(
        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
        "and query like :statement"
    )
    for _ in range(500):
        async with engine.connect() as conn:
            if (await conn.execute(query, {"statement": f"{statement}%"})).scalar():
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no session ran {statement!r} waiting on a lock")


async def test_rotating_the_secret_shows_the_new_one_and_keeps_the_old_a_day(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine
) -> None:
    created = await create(loopback_api, op)

    rotated = await loopback_api.post(f"{BASE}/{created['id']}/rotate-secret", headers=op)

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    until = datetime.fromisoformat(rotated.json()["secret_rotated_until"])
    assert timedelta(hours=23, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=24)
    row = await stored(engine, created["id"])
    assert (row["secret"], row["previous_secret"]) == (new, created["secret"])
    read = await loopback_api.get(f"{BASE}/{created['id']}", headers=op)
    assert read.json()["secret_rotated_until"] == rotated.json()["secret_rotated_until"]
    assert new not in read.text and created["secret"] not in read.text


# --- bad input: 422, nothing changed --------------------------------------------------------

REFUSED_URLS: dict[str, tuple[str, str, str]] = {
    # url, problem slug, reason
    "http-public": ("http://shop.example/hooks", "unsafe-url", "scheme"),
    "http-loopback-flag-off": ("http://127.0.0.1:9/hooks", "unsafe-url", "scheme"),
    "ftp": ("ftp://shop.example/hooks", "unsafe-url", "scheme"),
    "private-10": ("https://10.1.2.3/hooks", "unsafe-url", "private-address"),
    "private-172": ("https://172.16.5.4/hooks", "unsafe-url", "private-address"),
    "private-192": ("https://192.168.0.10/hooks", "unsafe-url", "private-address"),
    "cgnat": ("https://100.64.0.1/hooks", "unsafe-url", "private-address"),
    "metadata": ("https://169.254.169.254/latest/meta-data/", "unsafe-url", "link-local-address"),
    "link-local-v6": ("https://[fe80::1]/hooks", "unsafe-url", "link-local-address"),
    "unique-local": ("https://[fc00::1]/hooks", "unsafe-url", "unique-local-address"),
    "unspecified": ("https://0.0.0.0/hooks", "unsafe-url", "unspecified-address"),
    "unspecified-v6": ("https://[::]/hooks", "unsafe-url", "unspecified-address"),
    "loopback": ("https://127.0.0.1/hooks", "unsafe-url", "loopback-address"),
    "localhost": ("https://localhost/hooks", "unsafe-url", "loopback-address"),
    "mapped-private": ("https://[::ffff:192.168.0.1]/hooks", "unsafe-url", "private-address"),
    "credentials": ("https://user:pw@shop.example/hooks", "invalid-url", "credentials"),
    "no-host": ("https:///hooks", "invalid-url", "host"),
    "port-zero": ("https://shop.example:0/hooks", "invalid-url", "port"),
    "space": ("https://shop.example/a hook", "invalid-url", "malformed"),
    "unresolvable": ("https://no-such-host.invalid/hooks", "invalid-url", "unresolvable"),
}


def assert_url_refused(answer: httpx.Response, slug: str, reason: str) -> None:
    assert_problem(answer, 422, slug)
    assert answer.json()["reason"] == reason
    assert answer.json()["errors"][0]["loc"] == ["body", "url"]


@pytest.mark.parametrize("case", REFUSED_URLS.values(), ids=REFUSED_URLS.keys())
async def test_a_url_deliveries_may_not_go_to_is_a_422_and_saves_nothing(
    api: httpx.AsyncClient,
    loopback_api: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    case: tuple[str, str, str],
) -> None:
    url, slug, reason = case
    endpoint_id = (await create(loopback_api, op))["id"]
    before = await state(engine)

    created = await api.post(BASE, json={"url": url, "events": ["*"]}, headers=op)
    patched = await api.patch(f"{BASE}/{endpoint_id}", json={"url": url}, headers=op)

    assert_url_refused(created, slug, reason)
    assert_url_refused(patched, slug, reason)
    assert await state(engine) == before


async def test_a_host_name_is_judged_by_the_addresses_it_resolves_to(
    api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine
) -> None:
    """This machine's own name resolves (hosts file or DNS) to a loopback or private
    address: refused once resolved, though nothing in the URL's text says so."""
    name = socket.gethostname()
    resolved = {info[4][0] for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    before = await state(engine)

    answer = await api.post(
        BASE, json={"url": f"https://{name}/hooks", "events": ["*"]}, headers=op
    )

    assert_problem(answer, 422, "unsafe-url")
    assert answer.json()["reason"].endswith("-address")
    assert any(address in answer.json()["detail"] for address in resolved)
    assert await state(engine) == before


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hooks", "http://localhost:9/hooks"])
async def test_loopback_http_is_taken_when_the_setting_allows_it(
    loopback_api: httpx.AsyncClient, op: dict[str, str], url: str
) -> None:
    assert (await create(loopback_api, op, url=url))["url"] == url


def raw_json(body: Any, auth: dict[str, str]) -> dict[str, Any]:
    """A JSON body sent as is, so `"\\ud800"` stays an escape (httpx's `json=` cannot)."""
    return {"content": json.dumps(body), "headers": {**auth, "content-type": "application/json"}}


@pytest.mark.parametrize("char", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("field", ["url", "description", "events.0"])
async def test_a_control_character_in_any_field_is_a_422_and_saves_nothing(
    loopback_api: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    field: str,
    char: str,
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]
    body: dict[str, Any] = {"url": REFUSING, "events": ["order_shipped"], "description": "d"}
    name, _, index = field.partition(".")
    if index:
        body[name] = [body[name][0] + char]
    else:
        body[name] += char
    before = await state(engine)

    created = await loopback_api.post(BASE, **raw_json(body, op))
    patched = await loopback_api.patch(f"{BASE}/{endpoint_id}", **raw_json({name: body[name]}, op))

    for answer in (created, patched):
        assert_problem(answer, 422, "validation-error")
        assert ["body", *field.split(".")] in [e["loc"] for e in answer.json()["errors"]]
    assert await state(engine) == before


BAD_BODIES: dict[str, tuple[dict[str, Any], str]] = {
    "no-events": ({"events": []}, "validation-error"),
    "repeated-event": ({"events": ["order_shipped", "order_shipped"]}, "validation-error"),
    "star-and-more": ({"events": ["*", "order_shipped"]}, "validation-error"),
    "events-not-a-list": ({"events": "order_shipped"}, "validation-error"),
    "unknown-event": ({"events": ["order_shipped", "order_lost"]}, "unknown-event"),
    "operator-event": ({"events": ["review_required"]}, "unknown-event"),  # an email only
    "two-line-description": ({"description": "one\ntwo"}, "validation-error"),
    "long-description": ({"description": "d" * 501}, "validation-error"),
    "long-url": ({"url": "https://shop.example/" + "a" * 2048}, "validation-error"),
    "own-secret": ({"secret": "whsec_mine"}, "validation-error"),
    "enabled-not-a-bool": ({"enabled": "yes"}, "validation-error"),
}


@pytest.mark.parametrize("case", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_a_bad_body_is_a_422_and_saves_nothing(
    loopback_api: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    case: tuple[dict[str, Any], str],
) -> None:
    spoiled, slug = case
    endpoint_id = (await create(loopback_api, op))["id"]
    before = await state(engine)

    created = await loopback_api.post(
        BASE, json={"url": REFUSING, "events": ["*"], **spoiled}, headers=op
    )
    patched = await loopback_api.patch(f"{BASE}/{endpoint_id}", json=spoiled, headers=op)

    for answer in (created, patched):
        assert_problem(answer, 422, slug)
        if slug == "unknown-event":
            assert answer.json()["events"] in (["order_lost"], ["review_required"])
    assert await state(engine) == before


@pytest.mark.parametrize(
    ("suffix", "query", "slug"),
    [
        ("", "cursor=not-a-cursor", "invalid-cursor"),
        ("", "cursor=%00", "validation-error"),
        ("", "limit=0", "validation-error"),
        ("", "limit=101", "validation-error"),
        ("/deliveries", "status=lost", "validation-error"),
        ("/deliveries", "status=sent%00", "validation-error"),
        ("/deliveries", "cursor=not-a-cursor", "invalid-cursor"),
        ("/deliveries", "limit=1%00", "validation-error"),
    ],
)
async def test_a_malformed_query_is_a_422(
    loopback_api: httpx.AsyncClient, op: dict[str, str], suffix: str, query: str, slug: str
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]
    path = f"{BASE}/{endpoint_id}{suffix}" if suffix else BASE

    assert_problem(await loopback_api.get(f"{path}?{query}", headers=op), 422, slug)


# --- who may call, and which ids ------------------------------------------------------------

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "", {"url": REFUSING, "events": ["*"]}),
    ("GET", "", None),
    ("GET", "/{endpoint}", None),
    ("PATCH", "/{endpoint}", {"enabled": False}),
    ("DELETE", "/{endpoint}", None),
    ("POST", "/{endpoint}/rotate-secret", None),
    ("GET", "/{endpoint}/deliveries", None),
    ("POST", "/{endpoint}/deliveries/{delivery}/redeliver", None),
]
ROUTE_IDS = [f"{m} {s or '/'}" for m, s, _ in ROUTES]


async def route_to_a_delivery(
    http: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    order_id: str,
    suffix: str,
    endpoint: str = "{}",
) -> str:
    """The route's path for a new endpoint and a delivery of it; `endpoint` may spoil the
    endpoint's id (`{}` stands for the real one)."""
    endpoint_id = (await create(http, op))["id"]
    delivery_id = await add_delivery(engine, endpoint_id, order_id)
    return BASE + suffix.format(endpoint=endpoint.format(endpoint_id), delivery=delivery_id)


@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES, ids=ROUTE_IDS)
async def test_a_customer_gets_403_and_no_token_401_on_every_route(
    loopback_api: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    order_id: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    path = await route_to_a_delivery(loopback_api, op, engine, order_id, suffix)
    before = await state(engine)

    as_customer = await loopback_api.request(
        method, path, json=body, headers=await customer(loopback_api)
    )
    anonymous = await loopback_api.request(method, path, json=body)

    assert_problem(as_customer, 403, "forbidden")
    assert_problem(anonymous, 401, "unauthorized")
    assert await state(engine) == before


NOT_AN_ID = {
    "nul": "%00",
    "escape": "we_abc%1B",
    "newline-after-a-real-shape": "{}%0A",
    "upper-case": "WE_ABC",
    "other-prefix": "ord_0123456789abcdef0123",
    "surrogate-bytes": "%ED%A0%80",
    "long": "we_" + "0" * 300,
    "unknown": "we_0123456789abcdef0123",
}


@pytest.mark.parametrize("bad", NOT_AN_ID.values(), ids=NOT_AN_ID.keys())
@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES[2:], ids=ROUTE_IDS[2:])
async def test_an_endpoint_id_that_is_none_is_a_404(
    loopback_api: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    order_id: str,
    bad: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    path = await route_to_a_delivery(loopback_api, op, engine, order_id, suffix, bad)
    before = await state(engine)

    answer = await loopback_api.request(method, path, json=body, headers=op)

    assert_problem(answer, 404, "not-found")
    assert await state(engine) == before


NOT_A_DELIVERY = {
    "nul": "%00",
    "escape": "wd_0123%1B",
    "upper-case": "wd_0123456789ABCDEF0123",
    "long": "wd_" + "0" * 300,
    "an-endpoint-id": "we_env",
    "unknown": "wd_0123456789abcdef0123",
    "another-endpoints": "{theirs}",
}


@pytest.mark.parametrize("bad", NOT_A_DELIVERY.values(), ids=NOT_A_DELIVERY.keys())
async def test_a_delivery_that_is_not_the_endpoints_is_a_404_and_is_not_redelivered(
    loopback_api: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    order_id: str,
    bad: str,
) -> None:
    mine = (await create(loopback_api, op))["id"]
    theirs = (await create(loopback_api, op))["id"]
    their_delivery = await add_delivery(engine, theirs, order_id, status="failed")
    before = await state(engine)

    answer = await loopback_api.post(
        f"{BASE}/{mine}/deliveries/{bad.format(theirs=their_delivery)}/redeliver", headers=op
    )

    assert_problem(answer, 404, "not-found")
    assert await state(engine) == before


# --- the delivery log and redelivery --------------------------------------------------------


async def test_the_delivery_log_shows_every_attempt_newest_delivery_first(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine, order_id: str
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]
    sent = await add_delivery(
        engine,
        endpoint_id,
        order_id,
        event="order_confirmed",
        status="sent",
        attempts=(("failed", 500, "HTTP 500"), ("failed", 500, "HTTP 500"), ("sent", 200, None)),
    )
    running = await add_delivery(
        engine,
        endpoint_id,
        order_id,
        attempts=(("failed", None, "timed out after 10 s"), ("running", None, None)),
    )
    url = f"{BASE}/{endpoint_id}/deliveries"

    first = await loopback_api.get(url, params={"limit": 1}, headers=op)
    second = await loopback_api.get(
        url, params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=op
    )
    only_sent = await loopback_api.get(url, params={"status": "sent"}, headers=op)
    none_failed = await loopback_api.get(url, params={"status": "failed"}, headers=op)

    [newest], [oldest] = first.json()["items"], second.json()["items"]
    assert (newest["id"], oldest["id"]) == (running, sent)
    assert second.json()["next_cursor"] is None
    assert [(a["status_code"], a["error"]) for a in newest["attempts"]] == [
        (None, "timed out after 10 s"),
        (None, "no answer recorded yet"),
    ]
    assert [(a["status_code"], a["error"]) for a in oldest["attempts"]] == [
        (500, "HTTP 500"),
        (500, "HTTP 500"),
        (200, None),
    ]
    assert oldest["event_id"] == event_id(order_id, "order_confirmed", 1)
    assert (oldest["event"], oldest["order_id"], oldest["status"]) == (
        "order_confirmed",
        order_id,
        "sent",
    )
    assert [d["id"] for d in only_sent.json()["items"]] == [sent]
    assert none_failed.json() == {"items": [], "next_cursor": None}


async def test_the_delivery_log_of_an_unknown_endpoint_is_a_404(
    loopback_api: httpx.AsyncClient, op: dict[str, str]
) -> None:
    answer = await loopback_api.get(f"{BASE}/we_0123456789abcdef0123/deliveries", headers=op)

    assert_problem(answer, 404, "not-found")


async def test_redelivery_starts_a_new_attempt_series_of_the_same_event(
    loopback_api: httpx.AsyncClient,
    op: dict[str, str],
    engine: AsyncEngine,
    temporal: Client,
    order_id: str,
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]
    delivery_id = await add_delivery(
        engine, endpoint_id, order_id, status="failed", attempts=(("failed", 500, "HTTP 500"),)
    )
    url = f"{BASE}/{endpoint_id}/deliveries/{delivery_id}/redeliver"

    first = await loopback_api.post(url, headers=op)
    second = await loopback_api.post(url, headers=op)

    assert first.status_code == 202, first.text
    assert first.json()["id"] == delivery_id
    assert first.json()["event_id"] == event_id(order_id, "order_shipped", 1)
    assert first.json()["status"] == "pending"
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
                )
            )
            .mappings()
            .one()
        )
    assert row["series"] == 3  # its status moves on as the started series is delivered
    for series in (2, 3):
        handle = temporal.get_workflow_handle(webhook_delivery_workflow_id(delivery_id, series))
        described = await handle.describe()
        assert described.workflow_type == WEBHOOK_DELIVERY_WORKFLOW
        assert described.task_queue == NOTIFICATIONS_QUEUE
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [given] = await temporal.data_converter.decode(started.input.payloads, [WebhookDelivery])
        assert given == WebhookDelivery(delivery_id=delivery_id, series=series)
    assert second.status_code == 202


async def test_a_redelivery_temporal_cannot_start_is_a_503_that_leaves_the_delivery_as_it_was(
    settings: Settings,
    op: dict[str, str],
    engine: AsyncEngine,
    order_id: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The new series is taken back: a `pending` delivery that no workflow attempts would
    wait on nothing."""
    log = tmp_path_factory.mktemp("redeliver-temporal") / "temporal.log"
    temporal = start_temporal(port=free_port(), ui_port=free_port(), db_file=None, log_file=log)
    try:
        overrides = {"temporal_address": temporal.address, "webhook_allow_loopback_http": True}
        async with app_client(settings, **overrides) as http:
            endpoint_id = (await create(http, op))["id"]
            delivery_id = await add_delivery(
                engine,
                endpoint_id,
                order_id,
                status="failed",
                attempts=(("failed", 500, "HTTP 500"),),
            )
            before = await state(engine)
            temporal.stop()

            answer = await http.post(
                f"{BASE}/{endpoint_id}/deliveries/{delivery_id}/redeliver", headers=op
            )
    finally:
        temporal.stop()

    assert_problem(answer, 503, "unavailable")
    _, deliveries = before
    _, after = await state(engine)
    [was] = [d for d in deliveries if d["id"] == delivery_id]
    [now] = [d for d in after if d["id"] == delivery_id]
    changed = {k for k in was if k != "updated_at" and was[k] != now[k]}
    assert not changed, {k: (was[k], now[k]) for k in changed}


async def test_a_disabled_endpoint_is_not_redelivered_to(
    loopback_api: httpx.AsyncClient, op: dict[str, str], engine: AsyncEngine, order_id: str
) -> None:
    endpoint_id = (await create(loopback_api, op))["id"]
    delivery_id = await add_delivery(engine, endpoint_id, order_id, status="failed")
    await loopback_api.patch(f"{BASE}/{endpoint_id}", json={"enabled": False}, headers=op)
    before = await state(engine)

    answer = await loopback_api.post(
        f"{BASE}/{endpoint_id}/deliveries/{delivery_id}/redeliver", headers=op
    )

    assert_problem(answer, 409, "endpoint-disabled")
    assert await state(engine) == before


# --- seeding from MERCHANT_WEBHOOK_URL ------------------------------------------------------


def seeded(settings: Settings, url: str, secret: str) -> Settings:
    return settings.model_copy(
        update={"merchant_webhook_url": url, "merchant_webhook_secret": SecretStr(secret)}
    )


async def test_the_environment_seeds_one_endpoint_for_every_event_at_each_start(
    settings: Settings, engine: AsyncEngine
) -> None:
    environment = seeded(settings, REFUSING, "whsec_from_the_environment")

    for _ in range(2):
        async with app_client(environment) as http:
            endpoint = await http.get(f"{BASE}/{SEEDED_ENDPOINT_ID}", headers=await operator(http))

    assert endpoint.status_code == 200, endpoint.text
    assert endpoint.json()["url"] == REFUSING
    assert endpoint.json()["events"] == ["*"]
    assert endpoint.json()["description"] == "MERCHANT_WEBHOOK_URL"
    row = await stored(engine, SEEDED_ENDPOINT_ID)
    assert (row["secret"], row["previous_secret"]) == ("whsec_from_the_environment", None)


async def test_seeding_follows_the_environment_and_keeps_a_rotation_made_through_the_api(
    settings: Settings, engine: AsyncEngine
) -> None:
    store = EndpointStore(engine)
    await store.seed_configured(seeded(settings, REFUSING, "whsec_first"))
    first = await stored(engine, SEEDED_ENDPOINT_ID)
    await store.seed_configured(seeded(settings, REFUSING, "whsec_first"))
    assert await stored(engine, SEEDED_ENDPOINT_ID) == first  # nothing changed: not even updated_at

    await store.rotate(SEEDED_ENDPOINT_ID, "whsec_rotated_by_an_operator")
    await store.seed_configured(seeded(settings, "http://localhost:9/moved", "whsec_first"))
    kept = await stored(engine, SEEDED_ENDPOINT_ID)
    await store.seed_configured(seeded(settings, "http://localhost:9/moved", "whsec_new"))
    changed = await stored(engine, SEEDED_ENDPOINT_ID)

    assert kept["url"] == "http://localhost:9/moved"
    assert (kept["secret"], kept["previous_secret"]) == (
        "whsec_rotated_by_an_operator",
        "whsec_first",
    )
    assert (changed["secret"], changed["previous_secret"]) == (
        "whsec_new",
        "whsec_rotated_by_an_operator",
    )
    assert changed["previous_secret_until"] > datetime.now(UTC) + timedelta(hours=23)


def retrying() -> list[str]:
    """The API's background retries (the seed's, the status listener's) still running."""
    names = {"_seed_when_answered", "StatusWaits._reconnect"}
    return [
        task.get_coro().__qualname__  # type: ignore[union-attr]
        for task in asyncio.all_tasks()
        if not task.done() and getattr(task.get_coro(), "__qualname__", "") in names
    ]


def postgres_at(database: URL) -> tuple[str, int] | str:
    """Where `database`'s server listens: its unix socket when the URL names a folder (the
    embedded PostgreSQL's), else its host and port."""
    port = database.port or 5432
    if folder := database.query.get("host"):
        return f"{folder}/.s.PGSQL.{port}"
    return database.host or "127.0.0.1", port


async def test_the_api_starts_while_its_database_is_away_and_seeds_once_it_answers(
    settings: Settings, engine: AsyncEngine
) -> None:
    database = make_url(settings.database_url)
    away = free_port()  # nothing listens there until the "database" comes back
    through = database.set(host="127.0.0.1", port=away).difference_update_query(["host"])
    target = f"http://127.0.0.1:9/seeded-late-{uuid.uuid4().hex[:8]}"
    environment = seeded(settings, target, "whsec_late").model_copy(
        update={"database_url": through.render_as_string(hide_password=False)}
    )

    async with app_client(environment) as http:
        assert_problem(await http.get("/v1/products"), 503, "unavailable")
        assert "_seed_when_answered" in retrying()
        back = Relay(postgres_at(database))
        await back.start(away)
        try:
            for _ in range(150):
                row = await stored_or_none(engine, SEEDED_ENDPOINT_ID)
                if row is not None and row["url"] == target:
                    break
                await asyncio.sleep(0.1)
            assert row is not None and row["url"] == target
            assert row["secret"] == "whsec_late"
            assert (await http.get("/v1/products")).status_code == 200
        finally:
            back.close()
    assert retrying() == []


async def test_an_api_stopped_by_an_error_leaves_no_retry_running(settings: Settings) -> None:
    dead = "postgresql+asyncpg://postgres@127.0.0.1:9/nothing"  # the discard port: refused
    environment = seeded(settings, REFUSING, "whsec_dead").model_copy(update={"database_url": dead})

    with pytest.raises(RuntimeError, match="the server stops"):
        async with app_client(environment):
            assert sorted(retrying()) == ["StatusWaits._reconnect", "_seed_when_answered"]
            raise RuntimeError("the server stops")

    assert retrying() == []


async def listening(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        return int((await conn.execute(query)).scalar_one())


async def test_a_seeded_url_without_its_secret_stops_the_api_and_closes_what_it_opened(
    settings: Settings, engine: AsyncEngine
) -> None:
    before = await listening(engine)
    environment = settings.model_copy(
        update={"merchant_webhook_url": REFUSING, "merchant_webhook_secret": None}
    )

    with pytest.raises(ValueError, match="MERCHANT_WEBHOOK_SECRET"):
        async with app_client(environment):
            pass

    for _ in range(50):  # the server sees a closed connection go shortly after
        if await listening(engine) == before:
            break
        await asyncio.sleep(0.1)
    assert await listening(engine) == before
