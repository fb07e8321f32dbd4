"""Which version a worker says it runs, from the settings (workers/versioning.py)."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

from temporalio.common import VersioningBehavior

from adapters.settings import Settings
from workers.runner import worker_options
from workers.versioning import build_id, deployment_config, git_sha

VERSION = version("commerce-engine")


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_an_explicit_build_id_wins() -> None:
    assert build_id(_settings(worker_build_id="0.2.0", image_tag="ignored")) == "0.2.0"


def test_the_default_build_id_is_the_package_version_plus_the_image_tag() -> None:
    tagged = _settings(image_tag="2026.12.01-abc123")
    assert build_id(tagged) == f"{VERSION}+2026.12.01-abc123"


def _head() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def test_without_an_image_tag_the_build_id_names_the_checkouts_commit() -> None:
    git_sha.cache_clear()  # read once per process: a commit made since must count here
    before = _head()
    built = build_id(_settings())
    after = _head()  # someone may commit in between
    assert built in {f"{VERSION}+{sha}" if sha else VERSION for sha in (before, after)}


def test_a_versioned_worker_polls_as_its_version_orders_and_payments_pinned() -> None:
    settings = _settings(worker_deployment_name="shop", worker_build_id="7")

    behaviors = {}
    for queue in ("orders", "payments", "notifications"):
        options = worker_options(settings, queue)
        config = options["deployment_config"]
        assert config is not None
        assert (config.version.deployment_name, config.version.build_id) == ("shop", "7")
        assert config.use_worker_versioning
        assert options["build_id"] is None, "the SDK takes a version or a build id, not both"
        behaviors[queue] = config.default_versioning_behavior

    assert behaviors == {
        "orders": VersioningBehavior.PINNED,
        "payments": VersioningBehavior.PINNED,
        "notifications": VersioningBehavior.AUTO_UPGRADE,
    }


def test_with_versioning_off_a_worker_only_names_its_build() -> None:
    settings = _settings(worker_versioning=False, worker_build_id="7")

    options = worker_options(settings, "payments")

    assert deployment_config(settings, "payments") is None
    assert options["deployment_config"] is None
    assert options["build_id"] == "7"
