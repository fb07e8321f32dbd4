"""A worker starting while Temporal throttles its deployment's calls waits instead of dying.

Temporal refuses a burst of calls on one worker deployment with RESOURCE_EXHAUSTED ("too
many requests issued to Worker Deployment"); `make bench WORKERS=2` started twelve workers
at once and lost one of them that way. The throttle cannot be provoked on demand, so the
deployment service here is a stand-in that refuses the first calls as Temporal did."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentResponse
from temporalio.service import RPCError, RPCStatusCode

from adapters.settings import Settings
from workers.versioning import make_current_if_none

THROTTLED = "too many requests issued to Worker Deployment 'commerce-engine'"


@dataclass
class DeploymentService:
    refusals: int
    """How many calls are refused as too many requests before one is answered."""
    status: RPCStatusCode = RPCStatusCode.RESOURCE_EXHAUSTED
    made_current: list[str] = field(default_factory=list)

    def _refuse(self) -> None:
        if self.refusals:
            self.refusals -= 1
            raise RPCError(THROTTLED, self.status, b"")

    async def describe_worker_deployment(self, request: Any) -> DescribeWorkerDeploymentResponse:
        self._refuse()
        return DescribeWorkerDeploymentResponse()  # no current version yet

    async def set_worker_deployment_current_version(self, request: Any) -> None:
        self._refuse()
        self.made_current.append(request.build_id)


@dataclass
class StubClient:
    workflow_service: DeploymentService
    namespace: str = "default"
    identity: str = "test"
    service_client: Any = field(
        default_factory=lambda: SimpleNamespace(config=SimpleNamespace(target_host="stub:7233"))
    )


def _settings() -> Settings:
    return Settings(_env_file=None, worker_build_id="b1")  # type: ignore[call-arg]


async def test_a_throttled_start_tries_again_and_makes_its_version_current() -> None:
    service = DeploymentService(refusals=3)

    await make_current_if_none(StubClient(service), _settings())  # type: ignore[arg-type]

    assert service.refusals == 0
    assert service.made_current == ["b1"]


async def test_any_other_refusal_still_ends_the_start() -> None:
    service = DeploymentService(refusals=1, status=RPCStatusCode.PERMISSION_DENIED)

    with pytest.raises(RPCError):
        await make_current_if_none(StubClient(service), _settings())  # type: ignore[arg-type]

    assert service.made_current == []
