"""Schemathesis against the live OpenAPI document: the real app served over HTTP with the
real servers behind it, a bounded number of generated requests per operation, valid and
invalid. No answer may be a 5xx, and every answer must match what the document says
(status, media type, headers, body schema); invalid requests must be refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
import uvicorn
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.settings import Settings
from api.main import create_app
from devstack.services import free_port
from tests.integration.helpers import customer

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 25
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS = {
    GenerationMode.POSITIVE: CONFORMANCE,
    GenerationMode.NEGATIVE: [*CONFORMANCE, negative_data_rejection],
}


@pytest.fixture
async def served(settings: Settings, workers: None) -> AsyncIterator[str]:
    """The app on a free loopback port, served by uvicorn in the tests' event loop."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def _caller(
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
    checks: list[Callable[..., Any]],
) -> Callable[[schemathesis.Case], None]:
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=checks)

    return call


def _fuzz(schema: Any, base_url: str, headers: dict[str, str]) -> list[str]:
    """Every failing operation and mode with Schemathesis' report; runs in a thread."""
    failures: list[str] = []
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, checks in CHECKS.items():
            call = _caller(base_url, session, headers, checks)
            test = hypothesis.given(case=operation.as_strategy(generation_mode=mode))(call)
            test = hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )(test)
            try:
                test()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing in this operation's parameters can be made invalid
            except (Exception, BaseExceptionGroup) as error:  # collect all, fail once
                failures.append(f"{operation.label} ({mode.value}):\n{error}")
    return failures


async def test_the_api_conforms_to_its_openapi_document_under_fuzzing(
    served: str, api: httpx.AsyncClient
) -> None:
    document = (await api.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document).include(path_regex="^/v1/")
    headers = await customer(api)

    failures = await asyncio.to_thread(_fuzz, schema, served, headers)

    assert not failures, "\n\n".join(failures)
