"""The flight recorder on the running stack (docs/runbook.md, "Before a deploy"): orders
placed and driven over HTTP, exported through `GET /v1/orders/{id}/history`, replay on the
current code; the same exports against a changed order workflow are reported with each
order id and the command that differs. Plus who may export, and what the command says
when it has nothing to check."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.worker import Worker

from activities.maintenance import CleanupInput, MaintenanceActivities
from adapters.codec import ENCODING
from adapters.idempotency_store import IdempotencyStore
from adapters.settings import Settings
from adapters.temporal import connect
from tests.integration.conftest import ROOT
from tests.integration.helpers import customer, operator, order_body, wait_for_status
from tests.integration.test_api_bad_input import new_product
from tests.replay.incompatible import TimerBeforePaymentOrderWorkflow
from workers.replay import gate
from workflows.maintenance import IdempotencyCleanupWorkflow
from workflows.notification import NotificationWorkflow
from workflows.payment import PaymentWorkflow

pytestmark = pytest.mark.integration

CHANGED = [TimerBeforePaymentOrderWorkflow, PaymentWorkflow, NotificationWorkflow]
"""The order workflow with a timer before its payment, and the other two unchanged."""


@dataclass
class Recorded:
    exports: dict[str, Path]
    """Each order's export, by the status it was left in."""
    owner: dict[str, str]
    """The auth header of the customer who placed them."""

    def order_id(self, status: str) -> str:
        return str(json.loads(self.exports[status].read_text())["order_id"])


@pytest.fixture(scope="module")
async def recorded(live_api: str, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A delivered, a cancelled and a confirmed (still open) order, placed and driven over
    HTTP, each exported through the endpoint to a file."""
    folder = tmp_path_factory.mktemp("exports")
    async with httpx.AsyncClient(base_url=live_api, timeout=30) as http:
        op, buyer = await operator(http), await customer(http)
        sku = await new_product(http, op, 1000)
        ids: dict[str, str] = {}
        for status in ("delivered", "cancelled", "confirmed"):
            placed = await http.post("/v1/orders", json=order_body({sku: 1}), headers=buyer)
            assert placed.status_code == 201, placed.text
            ids[status] = placed.json()["id"]
            await wait_for_status(http, buyer, ids[status], "confirmed")
        url = f"/v1/orders/{ids['delivered']}"
        shipped = await http.post(
            f"{url}/shipments", json={"carrier": "DHL", "tracking_number": "T-1"}, headers=op
        )
        assert shipped.status_code == 200, shipped.text
        assert (await http.post(f"{url}/delivery", headers=op)).json()["status"] == "delivered"
        cancelled = await http.post(
            f"/v1/orders/{ids['cancelled']}/cancel", json={"reason": "replay"}, headers=buyer
        )
        assert cancelled.json()["status"] == "cancelled", cancelled.text
        exports = {}
        for status, order_id in ids.items():
            answer = await http.get(f"/v1/orders/{order_id}/history", headers=op)
            assert answer.status_code == 200, answer.text
            exports[status] = folder / f"{order_id}.json"
            exports[status].write_bytes(answer.content)
    return Recorded(exports, buyer)


def test_an_export_holds_the_order_its_payment_and_its_notifications(
    recorded: Recorded,
) -> None:
    exported = json.loads(recorded.exports["delivered"].read_text())
    order_id = exported["order_id"]
    runs = {run["workflow_id"]: run for run in exported["workflows"]}

    assert [run["workflow_id"] for run in exported["workflows"]][:2] == [
        f"order-{order_id}",
        f"payment-{order_id}",
    ]
    assert runs[f"order-{order_id}"]["type"] == "OrderWorkflow"
    assert runs[f"payment-{order_id}"]["type"] == "PaymentWorkflow"
    notifications = [w for w in runs if w.startswith(f"notification-{order_id}-")]
    assert f"notification-{order_id}-order_shipped-1" in notifications
    assert {runs[w]["type"] for w in notifications} == {"NotificationWorkflow"}
    for run in exported["workflows"]:
        first = run["history"]["events"][0]
        assert first["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
        assert (
            first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
            == (run["type"])
        )
        assert run["run_id"]


async def test_orders_recorded_through_the_stack_replay_on_the_current_code(
    recorded: Recorded, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    for status, path in recorded.exports.items():
        assert await gate(["--file", str(path)], settings) == 0, status
        out, _ = capsys.readouterr()
        assert "every one replays on this code" in out, out

    delivered = recorded.order_id("delivered")
    assert await gate(["--order", delivered], settings) == 0  # read from Temporal itself
    out, _ = capsys.readouterr()
    assert "of 1 order in" in out and "every one replays" in out, out

    assert await gate(["--sample", "20", "--since", "1h"], settings) == 0
    out, _ = capsys.readouterr()
    assert "every one replays on this code" in out, out


async def test_a_changed_order_workflow_is_reported_with_each_order_and_its_command(
    recorded: Recorded, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    for status, path in recorded.exports.items():
        order_id = recorded.order_id(status)

        assert await gate(["--file", str(path)], settings, CHANGED) == 1, status

        out, _ = capsys.readouterr()
        diverging = [line for line in out.splitlines() if line.startswith(f"{order_id}: ")]
        assert len(diverging) == 1, out  # the order; its payment and notifications replay
        assert diverging[0].startswith(f"{order_id}: order-{order_id} (OrderWorkflow) diverges")
        # where the history starts the payment child, the changed code starts a timer
        assert (
            f"StartChildWorkflowExecutionInitiated PaymentWorkflow payment-{order_id}"
            in (diverging[0])
        )
        assert "Timer machine does not handle this event" in diverging[0]
        assert out.splitlines()[-1].endswith(f"1 order diverges ({order_id})")


async def test_only_operators_read_histories_and_an_unknown_order_is_404(
    api: httpx.AsyncClient, recorded: Recorded
) -> None:
    order_id = recorded.order_id("confirmed")
    op = await operator(api)

    own = await api.get(f"/v1/orders/{order_id}/history", headers=recorded.owner)
    anonymous = await api.get(f"/v1/orders/{order_id}/history")
    unknown = await api.get(f"/v1/orders/ord_{uuid.uuid4().hex[:20]}/history", headers=op)
    malformed = await api.get("/v1/orders/ord_not-an-order/history", headers=op)

    assert own.status_code == 403, own.text  # even the customer who placed it
    assert own.json()["type"] == "/problems/forbidden"
    assert anonymous.status_code == 401
    for answer in (unknown, malformed):
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"] == "application/problem+json"


async def test_replaying_an_unknown_order_says_so_in_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = f"ord_{uuid.uuid4().hex[:20]}"

    assert await gate(["--order", unknown], settings) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"replay: Temporal ({settings.temporal_namespace}) has no order {unknown}: never "
        "placed, or closed longer ago than the namespace's retention\n"
    )


def test_the_command_reads_temporal_from_the_environment(
    settings: Settings, tmp_path: Path
) -> None:
    """As `make replay ORDER=...` runs it: settings from the environment, its own process."""
    unknown = f"ord_{uuid.uuid4().hex[:20]}"
    env = {**os.environ, "TEMPORAL_ADDRESS": settings.temporal_address, "DATA_DIR": str(tmp_path)}
    env.pop("PAYLOAD_ENCRYPTION_KEY", None)

    done = subprocess.run(
        [sys.executable, "-m", "workers.replay", "--order", unknown],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("replay: Temporal (default) has no order"), done.stderr
    assert "Traceback" not in done.stderr


def _new_key() -> SecretStr:
    return SecretStr(base64.b64encode(os.urandom(32)).decode())


async def test_an_encrypted_history_replays_with_the_workers_keys_only(
    settings: Settings, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recorded with a payload key (a cleanup run on a queue of its own stands in for any
    workflow): the history holds ciphertext, and replays only with the key."""
    keyed = settings.model_copy(update={"payload_encryption_key": _new_key()})
    client = await connect(keyed)
    queue = f"replay-encrypted-{uuid.uuid4().hex[:8]}"
    maintenance = MaintenanceActivities(IdempotencyStore(engine), keyed.idempotency_key_ttl)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[IdempotencyCleanupWorkflow],
        activities=[maintenance.delete_expired_idempotency_keys],
    ):
        handle = await client.start_workflow(
            IdempotencyCleanupWorkflow.run, CleanupInput(), id=queue, task_queue=queue
        )
        await handle.result()
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == ENCODING
    path = tmp_path / "cleanup.json"
    run = {"workflow_id": queue, "run_id": handle.result_run_id, "type": "cleanup"}
    export = {"order_id": "-", "workflows": [{**run, "history": history.to_json_dict()}]}
    path.write_text(json.dumps(export))

    assert await gate(["--file", str(path)], keyed) == 0
    capsys.readouterr()
    assert await gate(["--file", str(path)], settings) == 2
    assert capsys.readouterr().err == (
        f"replay: {queue} is encrypted: set PAYLOAD_ENCRYPTION_KEY (and PAYLOAD_DECRYPTION_KEYS "
        "after a rotation) to the workers' keys\n"
    )
    other = settings.model_copy(update={"payload_encryption_key": _new_key()})
    assert await gate(["--file", str(path)], other) == 2
    assert capsys.readouterr().err.startswith(
        f"replay: {queue}: payload encrypted with unknown key"
    )
