"""Schemathesis against the live OpenAPI document: the real app served over HTTP with the
real servers behind it, a bounded number of generated requests per operation, valid and
invalid. No answer may be a 5xx or slower than `MAX_RESPONSE_SECONDS` (a request that hangs
fails), and every answer must match what the document says (status, media type, headers,
body schema); invalid requests must be refused.

Each operation runs once with the token that reaches its validation: operator-only
operations with an operator's (a customer's only ever gets the 403), the others with a
customer's, and the order list with both (operators filter by customer). The operator's run
is served on a database of its own, so the products it creates and edits stay out of the
session's catalogue.

Then the same two runs go stateful: Schemathesis follows the document's links (an order
placed, then read, its events and notifications listed, cancelled; a product created, then
read, edited and restocked; an account registered, then logged into) in a few short
sequences, each answer again neither a 5xx nor slow. The customer's orders name a product of
their own with ample stock, since a generated sku is never one the catalogue has and the
session's seeded stock stays for the other tests."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
import uvicorn
from alembic import command
from alembic.config import Config
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, max_response_time, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.seed import seed
from adapters.settings import Settings
from api.main import create_app
from devstack.services import ensure_database, free_port
from tests.integration.conftest import ROOT, RealParts
from tests.integration.helpers import customer, operator

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 25
MAX_RESPONSE_SECONDS = 5.0
"""Validation answers in milliseconds and an order is accepted in well under a second; a
request still unanswered after twice this is cut off and fails."""
CONFORMANCE = [
    not_a_server_error,
    max_response_time,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS = {
    GenerationMode.POSITIVE: CONFORMANCE,
    GenerationMode.NEGATIVE: [*CONFORMANCE, negative_data_rejection],
}
BOTH_ROLES = {"GET /v1/orders"}
STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 4
"""Sequences per role and calls per sequence: a link from each created resource is taken
a few times, within about the time the requests above take."""
STATEFUL_CHECKS: list[CheckFunction] = [not_a_server_error, max_response_time]


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The app on a free loopback port, served by uvicorn in the tests' event loop."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def served(settings: Settings, workers: None) -> AsyncIterator[str]:
    async with serving(settings) as url:
        yield url


@pytest.fixture
async def served_apart(settings: Settings, real_parts: RealParts) -> AsyncIterator[str]:
    """The app on a database of its own, migrated and seeded, for the operator's run."""
    database = await ensure_database(
        real_parts.database_url, f"engine_fuzz_{uuid.uuid4().hex[:10]}"
    )
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database
    await asyncio.to_thread(command.upgrade, config, "head")  # alembic runs its own loop
    apart = settings.model_copy(update={"database_url": database})
    await seed(apart)
    async with serving(apart) as url:
        yield url


def _caller(
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
    checks: list[Callable[..., Any]],
) -> Callable[[schemathesis.Case[Any]], None]:
    def call(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(
            base_url=base_url,
            session=session,
            headers=headers,
            checks=checks,
            timeout=2 * MAX_RESPONSE_SECONDS,
        )

    return call


def _operations(schema: Any, labels: set[str] | None = None) -> Iterator[Any]:
    """The schema's operations, or those whose `METHOD /path` is in `labels`."""
    for result in schema.get_all_operations():
        operation = result.ok()
        if labels is None or operation.label in labels:
            yield operation


def _fuzz(schema: Any, labels: set[str], base_url: str, headers: dict[str, str]) -> list[str]:
    """Every failing operation and mode with Schemathesis' report; runs in a thread."""
    failures: list[str] = []
    session = requests.Session()
    for operation in _operations(schema, labels):
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


def _stateful(
    document: dict[str, Any],
    labels: set[str],
    base_url: str,
    headers: dict[str, str],
    sku: str | None,
) -> list[str]:
    """Schemathesis' report of a failing sequence along the document's links, if any; runs in
    a thread. With `sku`, every order generated names that product, on one line."""
    schema = schemathesis.openapi.from_dict(copy.deepcopy(document)).include(name=list(labels))
    schema.config.checks.update(max_response_time=MAX_RESPONSE_SECONDS)
    schema.config.phases.stateful.inference.algorithms = []  # the declared links only
    if sku is not None:

        @schema.hook
        def map_body(context: Any, body: Any) -> Any:
            if context.operation.label != "POST /v1/orders" or not isinstance(body, dict):
                return body
            lines = body.get("lines")
            if isinstance(lines, list) and lines and isinstance(lines[0], dict):
                body["lines"] = [{**lines[0], "sku": sku}]
            return body

    session = requests.Session()
    call = {
        "base_url": base_url,
        "session": session,
        "headers": headers,
        "timeout": 2 * MAX_RESPONSE_SECONDS,
    }

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return call

        def validate_response(
            self, response: Any, case: schemathesis.Case[Any], *_: Any, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                checks=STATEFUL_CHECKS,
                headers=headers,
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

        def step(self, input: Any) -> Any:
            try:
                return super().step(input)
            except Exception as error:  # a failed check or a request that failed outright
                failed.append(f"{input.case.operation.label}: {type(error).__name__}: {error}")
                raise

    failed: list[str] = []
    try:
        Sequences.run(
            settings=hypothesis.settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=STATEFUL_STEPS,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
        )
    except (hypothesis.errors.Flaky, AssertionError) as error:
        # Which links a sequence can take depends on what the server answered before, so
        # Hypothesis, replaying a choice it made, may find its data generation inconsistent;
        # Schemathesis' own runner ignores that too. Failed checks are recorded as they happen.
        if not _inconsistent_replay(error):
            failed.append(f"stateful: {error}")
    except (Exception, BaseExceptionGroup) as error:
        failed.append(f"stateful: {error}")
    return failed


def _inconsistent_replay(error: BaseException) -> bool:
    """Hypothesis finding that the same choices drew differently (it asserts or raises)."""
    if isinstance(error, hypothesis.errors.Flaky):
        return True
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    module = traceback.tb_frame.f_globals.get("__name__") if traceback else None
    return module == "hypothesis.internal.conjecture.datatree"


async def _fuzz_product(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A product of the stateful orders' own, so they never run out of stock."""
    sku = f"FUZZ-{uuid.uuid4().hex[:10].upper()}"
    body = {"sku": sku, "name": "Fuzz", "price": {"amount": 100, "currency": "EUR"}}
    created = await api.post("/v1/products", json={**body, "stock": 1_000_000}, headers=headers)
    assert created.status_code == 201, created.text
    return sku


def _operator_only(document: dict[str, Any]) -> set[str]:
    """`METHOD /path` of the operations that need the `operator` scope."""
    return {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any(
            "operator" in scopes
            for requirement in operation.get("security", [])
            for scopes in requirement.values()
        )
    }


async def test_the_api_conforms_to_its_openapi_document_under_fuzzing(
    served: str, served_apart: str, api: httpx.AsyncClient
) -> None:
    document = (await api.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document).include(path_regex="^/v1/")
    schema.config.checks.update(max_response_time=MAX_RESPONSE_SECONDS)
    every = {operation.label for operation in _operations(schema)}
    operator_only = _operator_only(document)
    assert operator_only, "no operation needs the operator scope: the split below is wrong"
    runs = [
        (every - operator_only, served, await customer(api)),
        (operator_only | BOTH_ROLES, served_apart, await operator(api)),
    ]

    failures: list[str] = []
    for labels, url, headers in runs:
        failures += await asyncio.to_thread(_fuzz, schema, labels, url, headers)
    skus = [await _fuzz_product(api, await operator(api)), None]
    for (labels, url, headers), sku in zip(runs, skus, strict=True):
        failures += await asyncio.to_thread(_stateful, document, labels, url, headers, sku)

    assert not failures, "\n\n".join(failures)


FULFILMENT_BY_OPERATORS = {
    "POST /v1/orders/{order_id}/shipments",
    "POST /v1/orders/{order_id}/delivery",
    "POST /v1/orders/{order_id}/shipments/{shipment_id}/delivery",
    "POST /v1/orders/{order_id}/returns/{return_id}/receive",
    "POST /v1/orders/{order_id}/returns/{return_id}/reject",
}
FULFILMENT_BY_OWNERS = {
    "POST /v1/orders/{order_id}/edits",
    "POST /v1/orders/{order_id}/returns",
    "GET /v1/orders/{order_id}/returns",
}


async def test_the_fuzzing_runs_each_fulfilment_operation_with_the_role_that_may_call_it(
    api: httpx.AsyncClient,
) -> None:
    """The runs above split the operations by the `operator` scope the document declares: an
    operator's route documented without it would be fuzzed only into customers' 403s, an
    owner's documented with it only with the operator's token."""
    document = (await api.get("/openapi.json")).json()
    every = {
        f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops
    }
    operator_only = _operator_only(document)

    assert FULFILMENT_BY_OPERATORS | FULFILMENT_BY_OWNERS <= every
    assert FULFILMENT_BY_OPERATORS <= operator_only
    assert not FULFILMENT_BY_OWNERS & operator_only
