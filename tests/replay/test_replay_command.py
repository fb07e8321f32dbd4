"""`make replay FILE=...` on files alone (no Temporal needed): a file it cannot read is one
line and exit 2, never a traceback; a committed history replays (exit 0) and a changed
workflow is reported with the order and the first differing command (exit 1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import Settings
from tests.replay.incompatible import ReorderedOrderWorkflow, TimerBeforePaymentOrderWorkflow
from workers.replay import gate
from workflows.notification import NotificationWorkflow
from workflows.payment import PaymentWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def _history(name: str) -> dict[str, Any]:
    return dict(json.loads((HISTORIES / f"{name}.json").read_text()))


def _export(**runs: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": "ord_0123456789abcdef0123",
        "workflows": [
            {"workflow_id": wid, "run_id": "r", "type": "OrderWorkflow", "history": history}
            for wid, history in runs.items()
        ],
    }


MALFORMED: dict[str, Any] = {
    "not-json": b"{not json",
    "not-utf8": b"\xff\xfe\x00{",
    "a-list": [],
    "no-order-id": {"workflows": []},
    "no-workflows": {"order_id": "ord_x", "workflows": []},
    "workflows-not-a-list": {"order_id": "ord_x", "workflows": {"a": 1}},
    "history-not-an-object": _export(w=[1, 2]),  # type: ignore[arg-type]
    "events-not-a-list": _export(w={"events": 7}),
    "event-not-an-object": _export(w={"events": ["x"]}),
    "unknown-event-field": _export(w={"events": [{"eventId": "1", "colour": "red"}]}),
    "unknown-event-type": _export(w={"events": [{"eventId": "1", "eventType": "EVENT_TYPE_X"}]}),
    "no-events": _export(w={"events": []}),
    "not-starting-with-the-start": _export(w={"events": _history("order-happy")["events"][1:]}),
    "a-bare-history-without-events": {"events": None},
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any
) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())

    status = await gate(["--file", str(path)], SETTINGS)

    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"replay: {path}"), err
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["missing.json", "."], ids=["missing", "a-folder"])
async def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    status = await gate(["--file", str(tmp_path / where)], SETTINGS)

    _, err = capsys.readouterr()
    assert status == 2
    assert err.startswith("replay: cannot read") and err.count("\n") == 1, err


async def test_an_export_replays_on_the_current_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.json"
    names = ("order-split_shipment", "payment-split_shipment")
    path.write_text(json.dumps(_export(**{name: _history(name) for name in names})))

    status = await gate(["--file", str(path)], SETTINGS)

    out, _ = capsys.readouterr()
    assert status == 0, out
    assert "replayed 2 histories of 1 order" in out and "every one replays" in out


async def test_a_changed_workflow_is_reported_with_the_order_and_its_first_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "order-split_shipment.json"  # a history as the Temporal UI saves one
    path.write_text(json.dumps(_history("order-split_shipment")))
    changed = [TimerBeforePaymentOrderWorkflow, PaymentWorkflow, NotificationWorkflow]

    status = await gate(["--file", str(path)], SETTINGS, changed)

    out, _ = capsys.readouterr()
    assert status == 1
    first, summary = out.splitlines()
    assert first.startswith("order-split_shipment: order-split_shipment (OrderWorkflow) diverges")
    # the history starts the payment child where the changed code starts a timer
    assert "StartChildWorkflowExecutionInitiated PaymentWorkflow payment-" in first
    assert "Timer machine does not handle this event" in first
    assert summary.endswith("1 order diverges (order-split_shipment)")


def test_the_command_refuses_unclear_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["--sample", "0"], ["--sample", "5", "--since", "a week"]):
        with pytest.raises(SystemExit) as exited:
            asyncio.run(gate(argv, SETTINGS))
        assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


async def test_a_patch_the_changed_code_no_longer_checks_is_named_with_its_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "order-happy.json"
    path.write_text(json.dumps(_history("order-happy")))
    changed = [ReorderedOrderWorkflow, PaymentWorkflow, NotificationWorkflow]

    assert await gate(["--file", str(path)], SETTINGS, changed) == 1

    first = capsys.readouterr().out.splitlines()[0]
    assert "MarkerRecorded core_patch order-code-2026-12" in first, first
    assert "patch marker encountered for change order-code-2026-12" in first
