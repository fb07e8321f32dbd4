"""workers.runner.compile_workflows: the sandbox's per-run imports find bytecode."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers import runner


def test_workflow_modules_get_their_bytecode_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flow.py").write_text("STEPS = 3\n")
    monkeypatch.setattr(runner, "WORKFLOWS", tmp_path)

    runner.compile_workflows()

    assert [p.name.split(".")[0] for p in (tmp_path / "__pycache__").glob("*.pyc")] == ["flow"]


def test_a_tree_it_cannot_compile_leaves_the_worker_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "WORKFLOWS", tmp_path / "not-there")

    runner.compile_workflows()  # no exception: the worker starts, only slower

    assert not (tmp_path / "not-there").exists()


def test_the_real_workflows_folder_is_the_one_compiled() -> None:
    assert (runner.WORKFLOWS / "order.py").is_file()
