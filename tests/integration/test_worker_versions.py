"""Two worker versions side by side on the dev server (docs/runbook.md, "A safe deploy").

The engine runs twice here, as build `v1` and build `v2` of one worker deployment, in a
Temporal namespace of its own (so its workers own the usual task queue names there, and
making `v2` current touches no other test's workers). An order placed on `v1` finishes on
`v1` after `v2` is made current; an order placed after that runs on `v2`; `v1` drains.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, VersioningBehavior
from temporalio.client import Client, WorkflowHandle

from adapters.settings import Settings
from adapters.temporal import connect
from api.main import create_app
from tests.integration.test_api_fulfilment_flow import Order, confirmed
from tests.integration.test_operations import _namespace
from workers import notifications, orders, payments
from workers.versions import VersionRow, route, show, versions

pytestmark = pytest.mark.integration

DEPLOYMENT = "commerce-engine-versions-test"
WAIT = 60.0
"""Seconds to wait for the stack (a promotion, visibility) before failing."""


@dataclass
class Versions:
    settings: Settings
    temporal: Client
    api: httpx.AsyncClient
    start: Callable[[str], Awaitable[None]]
    """Start the three workers of a build id (the first becomes current by itself)."""


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Versions]:
    """The API, and workers of as many builds as the test starts, in a namespace of its own;
    orders close two seconds after delivery (the return window)."""
    own = settings.model_copy(
        update={
            "temporal_namespace": await _namespace(settings),
            "worker_deployment_name": DEPLOYMENT,
            "return_window": timedelta(seconds=2),
        }
    )
    temporal = await connect(own)
    async with AsyncExitStack() as stack:

        async def start(build: str) -> None:
            versioned = own.model_copy(update={"worker_build_id": build})
            for module in (orders, payments, notifications):
                await stack.enter_async_context(await module.build(temporal, versioned))

        app = create_app(own)
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://api")
        )
        yield Versions(own, temporal, api, start)


async def _accepted(route: Callable[[], Awaitable[int]]) -> None:
    """Temporal refuses to route to a version until it polls every queue the current one
    polls (the new workers have just started)."""
    for _ in range(int(WAIT / 0.2)):
        if await route() == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("Temporal never took the new version")


async def _table(temporal: Client, expected: dict[str, tuple[str, int, int]]) -> None:
    """`make versions`' rows once visibility has caught up with `expected`."""
    rows: list[VersionRow] | None = None
    for _ in range(int(WAIT / 0.2)):
        rows = await versions(temporal, DEPLOYMENT)
        seen = {r.build_id: (r.status, r.open_orders, r.open_workflows) for r in rows or []}
        if seen == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"versions {rows}, expected {expected}")


async def _ran_on(handle: WorkflowHandle[object, object]) -> set[str]:
    """The build ids of the workers that completed the workflow's tasks."""
    builds = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            builds.add(event.workflow_task_completed_event_attributes.deployment_version.build_id)
    return builds


async def _delivered_and_closed(engine: Versions, order: Order) -> None:
    assert (await order.ship("T-1")).status_code == 200
    delivered = await order.post("delivery")
    assert delivered.status_code == 200, delivered.text
    await engine.temporal.get_workflow_handle(f"order-{order.id}").result()


async def test_an_order_finishes_on_its_version_new_orders_take_the_current_one_and_v1_drains(
    engine: Versions,
) -> None:
    temporal = engine.temporal
    await engine.start("v1")
    first = await confirmed(engine.api)
    await engine.start("v2")
    await _table(temporal, {"v1": ("current", 1, 2), "v2": ("inactive", 0, 0)})

    await _accepted(lambda: route(temporal, engine.settings, "v2", None))
    second = await confirmed(engine.api)
    await _delivered_and_closed(engine, first)  # its shipment, delivery and close after v2
    await _delivered_and_closed(engine, second)

    for order, build in ((first, "v1"), (second, "v2")):
        for workflow_id in (f"order-{order.id}", f"payment-{order.id}"):
            handle = temporal.get_workflow_handle(workflow_id)
            assert await _ran_on(handle) == {build}, workflow_id
            info = (await handle.describe()).raw_description.workflow_execution_info
            assert info.versioning_info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED
    await _table(temporal, {"v1": ("draining", 0, 0), "v2": ("current", 0, 0)})

    # started by the v1 order after v2 was made current: it auto-upgrades
    notice = temporal.get_workflow_handle(f"notification-{first.id}-order_shipped-1")
    await notice.result()
    info = (await notice.describe()).raw_description.workflow_execution_info
    assert info.versioning_info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE


async def test_make_versions_lists_each_version_and_routes_new_orders(
    engine: Versions, capsys: pytest.CaptureFixture[str]
) -> None:
    temporal, settings = engine.temporal, engine.settings
    assert await show(temporal, settings) == 1
    assert f"no worker deployment '{DEPLOYMENT}' yet" in capsys.readouterr().out
    await engine.start("v1")
    await engine.start("v2")

    await _accepted(lambda: route(temporal, settings, "v2", 25))
    assert "v2 is now ramping at 25% in " in capsys.readouterr().out
    assert await show(temporal, settings) == 0
    listed = capsys.readouterr().out.splitlines()  # the workers' log lines too
    assert f"worker deployment {DEPLOYMENT}" in listed
    assert [line.split()[:3] for line in listed if line.startswith(("v1 ", "v2 "))] == [
        ["v1", "current", "0"],
        ["v2", "ramping", "25%"],
    ]

    # backing out (docs/runbook.md): no ramp any more, or the old version current again
    assert await route(temporal, settings, "v2", 0) == 0
    assert await route(temporal, settings, "v2", None) == 0
    assert await route(temporal, settings, "v1", None) == 0
    assert await route(temporal, settings, "v9", None) == 1
    assert capsys.readouterr().err.startswith("refused: ")
