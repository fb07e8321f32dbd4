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
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError

from adapters.settings import Settings
from adapters.temporal import connect
from api.main import create_app
from tests.integration.test_api_fulfilment_flow import Order, confirmed
from tests.integration.test_operations import _namespace
from workers import notifications, orders, payments
from workers.versioning import set_current
from workers.versions import VersionRow, versions

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


async def _make_current(temporal: Client, build: str) -> None:
    """Temporal refuses until the new version polls every queue the current one polls."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + WAIT
    while True:
        try:
            return await set_current(temporal, WorkerDeploymentVersion(DEPLOYMENT, build))
        except RPCError:
            if loop.time() > give_up:
                raise
            await asyncio.sleep(0.2)


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

    await _make_current(temporal, "v2")
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
