"""`python -m workers.versions` (`make versions`): the worker deployment's versions, each
with its status and the open orders pinned to it; `current BUILD` and `ramp BUILD PERCENT`
move new orders to a version (docs/runbook.md, "A safe deploy").

It reads and routes through the configured Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TLS or API key); the open counts come from visibility, so they lag a second or two.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError

from adapters.settings import Settings, get_settings
from adapters.temporal import connect
from workers.versioning import describe, search_value, set_current, set_ramping, status_name
from workflows.order import OrderWorkflow

OPEN = "ExecutionStatus = 'Running'"
ORDERS = f"WorkflowType = '{OrderWorkflow.__name__}' AND {OPEN}"


@dataclass(frozen=True)
class VersionRow:
    build_id: str
    status: str
    """`current`, `ramping 10%`, `draining`, `drained`, `inactive` (Temporal's words)."""
    open_orders: int
    open_workflows: int
    """Orders, their payments and anything else still running that last ran on it."""


async def open_count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def versions(client: Client, deployment: str) -> list[VersionRow] | None:
    """The deployment's versions, oldest first; None when no versioned worker ever polled."""
    described = await describe(client, deployment)
    if described is None:
        return None
    info = described.worker_deployment_info
    ramp = info.routing_config.ramping_version_percentage
    rows = []
    for summary in sorted(info.version_summaries, key=lambda s: s.create_time.ToDatetime()):
        version = WorkerDeploymentVersion(deployment, summary.deployment_version.build_id)
        on_it = f"TemporalWorkerDeploymentVersion = '{search_value(version)}'"
        status = status_name(summary.status)
        rows.append(
            VersionRow(
                build_id=version.build_id,
                status=f"{status} {ramp:g}%" if status == "ramping" else status,
                open_orders=await open_count(client, f"{ORDERS} AND {on_it}"),
                open_workflows=await open_count(client, f"{OPEN} AND {on_it}"),
            )
        )
    return rows


def table(deployment: str, rows: list[VersionRow], unversioned_orders: int) -> str:
    width = max([len("build id"), *(len(r.build_id) for r in rows)])
    lines = [
        f"worker deployment {deployment}",
        f"{'build id':<{width}}  {'status':<12}  {'open orders':>11}  {'open workflows':>14}",
    ]
    lines += [
        f"{r.build_id:<{width}}  {r.status:<12}  {r.open_orders:>11}  {r.open_workflows:>14}"
        for r in rows
    ]
    if unversioned_orders:
        lines.append(f"{unversioned_orders} open orders started before versioning (unversioned)")
    return "\n".join(lines)


async def show(client: Client, settings: Settings) -> int:
    deployment = settings.worker_deployment_name
    rows = await versions(client, deployment)
    if rows is None:
        print(f"no worker deployment {deployment!r} yet: no versioned worker has polled")
        return 1
    unversioned = await open_count(client, f"{ORDERS} AND TemporalWorkerDeploymentVersion IS NULL")
    print(table(deployment, rows, unversioned))
    return 0


async def route(client: Client, settings: Settings, build: str, percent: float | None) -> int:
    """Make `build` current (`percent` None) or ramping; Temporal's refusal in one line."""
    version = WorkerDeploymentVersion(settings.worker_deployment_name, build)
    try:
        if percent is None:
            await set_current(client, version)
        else:
            await set_ramping(client, version, percent)
    except RPCError as error:
        print(f"refused: {error.message}", file=sys.stderr)
        return 1
    to = "current" if percent is None else f"ramping at {percent:g}%"
    print(f"{build} is now {to} in {version.deployment_name}")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workers.versions", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="each version, its status and open orders (the default)")
    current = commands.add_parser("current", help="new orders go to BUILD")
    current.add_argument("build")
    ramp = commands.add_parser("ramp", help="PERCENT of new orders go to BUILD (0 stops it)")
    ramp.add_argument("build")
    ramp.add_argument("percent", type=_percent)
    return parser.parse_args(argv)


def _percent(text: str) -> float:
    value = float(text)  # argparse turns a ValueError into "invalid _percent value"
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not from 0 to 100")
    return value


async def main(argv: list[str]) -> int:
    args = parse(argv)
    settings = get_settings()
    if not settings.worker_versioning:
        print("worker versioning is off (WORKER_VERSIONING=false): workers poll unversioned")
        return 1
    try:
        client = await connect(settings)
    except RuntimeError as error:
        print(f"cannot reach Temporal at {settings.temporal_address}: {error}", file=sys.stderr)
        return 1
    if args.command in (None, "list"):
        return await show(client, settings)
    return await route(client, settings, args.build, getattr(args, "percent", None))


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
