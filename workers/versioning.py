"""Which version of the worker deployment a worker runs, and when that version gets work.

Every worker polls as version `WORKER_BUILD_ID` of the deployment `WORKER_DEPLOYMENT_NAME`
(docs/architecture.md, "Worker versions"). Temporal sends new workflows only to the
deployment's current (or ramping) version, so a worker makes its version current itself in
one case only: the deployment has no current version yet (the first versioned start, a
fresh `make run` or test server). Every later version is promoted by the operator
(`python -m workers.versions current|ramp`, docs/runbook.md, "A safe deploy").
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from collections.abc import Awaitable, Callable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TypeVar

import structlog
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentResponse,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from adapters.settings import Settings
from workflows.names import ORDERS_QUEUE, PAYMENTS_QUEUE

log = structlog.get_logger()
T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "commerce-engine"


@lru_cache
def git_sha() -> str:
    """The checkout's commit, read once per process: a commit made while tests run must not
    give the workers built later another version than the one already current."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "0"


def build_id(settings: Settings) -> str:
    """`WORKER_BUILD_ID`, else the package version plus the image tag or the git sha
    (`0.1.0+abc123def456`), else the package version alone."""
    if settings.worker_build_id:
        return settings.worker_build_id
    suffix = settings.image_tag or git_sha()
    return f"{_package_version()}+{suffix}" if suffix else _package_version()


def deployment_version(settings: Settings) -> WorkerDeploymentVersion:
    return WorkerDeploymentVersion(settings.worker_deployment_name, build_id(settings))


PINNED_QUEUES = frozenset({ORDERS_QUEUE, PAYMENTS_QUEUE})
"""Queues whose workflows are pinned to the version they started on: the order and its
payment (and the short scheduled jobs beside them); the notifications queue's auto-upgrade
(docs/architecture.md, "Worker versions")."""


def deployment_config(settings: Settings, queue: str) -> WorkerDeploymentConfig | None:
    """The worker's version and its workflows' behavior, None when versioning is off.

    The behavior is the worker's default rather than each workflow's `@workflow.defn`
    declaration: Temporal refuses a workflow task that declares one from an unversioned
    worker, so a declared one would wedge every order under `WORKER_VERSIONING=false` (or
    on any worker built without a version)."""
    if not settings.worker_versioning:
        return None
    pinned = queue in PINNED_QUEUES
    return WorkerDeploymentConfig(
        version=deployment_version(settings),
        use_worker_versioning=True,
        default_versioning_behavior=(
            VersioningBehavior.PINNED if pinned else VersioningBehavior.AUTO_UPGRADE
        ),
    )


def search_value(version: WorkerDeploymentVersion) -> str:
    """The version as the `TemporalWorkerDeploymentVersion` search attribute holds it."""
    return f"{version.deployment_name}:{version.build_id}"


async def describe(client: Client, deployment: str) -> DescribeWorkerDeploymentResponse | None:
    """The deployment's versions and routing; None when no versioned worker ever polled."""
    try:
        return await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        if error.status == RPCStatusCode.UNIMPLEMENTED:
            raise RuntimeError(
                "this Temporal server has no worker deployments: upgrade it (1.28 or later) "
                "or set WORKER_VERSIONING=false"
            ) from error
        raise


def has_current(described: DescribeWorkerDeploymentResponse | None) -> bool:
    if described is None:
        return False
    routing = described.worker_deployment_info.routing_config
    return routing.HasField("current_deployment_version")


async def make_current_if_none(client: Client, settings: Settings) -> None:
    """Make this worker's version current when the deployment has none, so a first start
    gets work; any later version waits for the operator's promotion.

    Temporal rate-limits the calls per deployment: when many workers start at once (a
    scale-up, `make bench WORKERS=2`) some are refused with RESOURCE_EXHAUSTED, and those
    try again after a pause instead of ending the process, as after a call a busy server
    cancelled or let time out. A process that saw a current version once asks no more (a
    deployment never loses its current version; the tests build many workers)."""
    if not settings.worker_versioning:
        return
    version = deployment_version(settings)
    known = (client.service_client.config.target_host, client.namespace, version.deployment_name)
    if known in _HAS_CURRENT:
        return
    if has_current(await _unthrottled(lambda: describe(client, version.deployment_name))):
        _HAS_CURRENT.add(known)
        return
    await _unthrottled(lambda: set_current(client, version, allow_no_pollers=True))
    log.info(
        "worker_version_made_current",
        deployment=version.deployment_name,
        build_id=version.build_id,
        reason="the deployment had no current version",
    )


_HAS_CURRENT: set[tuple[str, str, str]] = set()
"""(Temporal address, namespace, deployment) this process saw with a current version."""

_TRANSIENT = frozenset(
    {
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
    }
)
"""Refusals a busy or restarting server gives, which a later call does not get."""


async def _unthrottled(call: Callable[[], Awaitable[T]], *, within: float = 60.0) -> T:
    """`call`, again after a growing, jittered pause while Temporal refuses it as too many
    requests or for a moment (`_TRANSIENT`), for at most `within` seconds; any other error
    at once."""
    loop = asyncio.get_running_loop()
    give_up, delay = loop.time() + within, 0.25
    while True:
        try:
            return await call()
        except RPCError as error:
            if error.status not in _TRANSIENT or loop.time() > give_up:
                raise
            log.warning("worker_deployment_throttled", retry_in=round(delay, 2))
            await asyncio.sleep(delay * (1 + random.random()))  # noqa: S311 - spreads retries
            delay = min(delay * 2, 4.0)


async def set_current(
    client: Client, version: WorkerDeploymentVersion, *, allow_no_pollers: bool = False
) -> None:
    """New workflows go to `version`; pinned ones stay where they started. Temporal refuses
    while the version does not poll every task queue the current version polls."""
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=version.deployment_name,
            build_id=version.build_id,
            allow_no_pollers=allow_no_pollers,
            identity=client.identity,
        )
    )


async def set_ramping(client: Client, version: WorkerDeploymentVersion, percent: float) -> None:
    """`percent` of new workflows go to `version`, the rest to the current version."""
    request = SetWorkerDeploymentRampingVersionRequest(
        namespace=client.namespace,
        deployment_name=version.deployment_name,
        build_id=version.build_id,
        percentage=percent,
        identity=client.identity,
    )
    await client.workflow_service.set_worker_deployment_ramping_version(request)


def status_name(status: WorkerDeploymentVersionStatus.ValueType) -> str:
    """Temporal's version status as `make versions` prints it: `current`, `ramping`,
    `draining`, `drained`, `inactive` or `created`."""
    return WorkerDeploymentVersionStatus.Name(status).removeprefix(_STATUS_PREFIX).lower()


_STATUS_PREFIX = "WORKER_DEPLOYMENT_VERSION_STATUS_"
