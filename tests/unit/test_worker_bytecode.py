"""workers.runner.compile_bytecode: the sandbox's per-run imports find bytecode."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from workers import runner


def test_workflow_modules_get_their_bytecode_written(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text("STEPS = 3\n")

    with capture_logs() as logs:
        runner.compile_bytecode(tmp_path)

    assert [p.name.split(".")[0] for p in (tmp_path / "__pycache__").glob("*.pyc")] == ["flow"]
    assert logs == []


def test_a_module_that_cannot_be_compiled_is_logged_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    (tmp_path / "flow.py").write_text("STEPS = 3\n")
    (tmp_path / "broken.py").write_text("def (:\n")

    with capture_logs() as logs:
        runner.compile_bytecode(tmp_path)  # no exception: the worker starts, only slower

    assert [line["event"] for line in logs] == ["workflow_bytecode_not_written"]
    assert [p.name.split(".")[0] for p in (tmp_path / "__pycache__").glob("*.pyc")] == ["flow"]


def test_by_default_the_engines_workflows_folder_is_compiled() -> None:
    assert (runner.WORKFLOWS / "order.py").is_file()
