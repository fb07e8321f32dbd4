"""The deployment files, checked offline: docker-compose.yml against the Compose
specification's JSON schema, the Kubernetes overlays as kustomize would build them, and every
command in them against the engine's real entry points.

The Compose schema is the one `check-jsonschema` ships (vendored from compose-spec, Apache-2.0).
Without `kubectl`, the overlays' resources are collected by reading the kustomization files;
with it, `kubectl kustomize` builds them.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir())
QUEUES = ("orders", "payments", "notifications")


def _module_of(command: list[str]) -> str:
    assert command[:2] == ["python", "-m"], f"not a python -m entry point: {command}"
    return command[2]


def _assert_entry_point(command: list[str]) -> None:
    module = _module_of(command)
    assert importlib.util.find_spec(module) is not None, f"no module {module}"
    if module.startswith(("workers.", "api")):
        path = ROOT / Path(*module.split("."))
        assert path.with_suffix(".py").exists() or (path / "__main__.py").exists(), module


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert errors == []


def test_compose_commands_are_real_entry_points() -> None:
    services = _compose()["services"]
    ours = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("commerce")}
    assert {"api", "migrate", *QUEUES} <= set(ours)
    for service in ours.values():
        _assert_entry_point(service["command"])


def test_compose_runs_one_scalable_service_per_queue_and_the_ui_with_the_codec() -> None:
    services = _compose()["services"]
    for queue in QUEUES:
        assert services[queue]["command"][-1] == f"workers.{queue}"
        assert "replicas" in services[queue]["deploy"]
        assert "ports" not in services[queue], "a published port would stop --scale"
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    assert services["temporal"]["environment"]["DB"].startswith("postgres")


def test_dockerfile_is_multi_stage_and_runs_unprivileged() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    [cmd] = re.findall(r"^CMD (.+)$", text, re.MULTILINE)
    _assert_entry_point(json.loads(cmd))
    for copied in re.findall(r"^COPY (?!--from)(?:--chown=\S+ )?(\S+) ", text, re.MULTILINE):
        assert (ROOT / copied).exists(), f"Dockerfile copies missing {copied}"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    """The resources of a kustomization: `kubectl kustomize` if present, else read by hand
    (resources and generators; patches must name an existing resource)."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        built = subprocess.run(
            [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True
        )
        return [d for d in yaml.safe_load_all(built.stdout) if d]
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        resources += _kustomize(target) if target.is_dir() else _documents(target)
    for generator, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for generated in kustomization.get(generator, []):
            for env_file in generated.get("envs", []):
                assert (directory / env_file).exists(), env_file
            if generated.get("behavior") != "merge":
                resources.append({"kind": kind, "metadata": {"name": generated["name"]}})
            else:
                assert any(r["metadata"]["name"] == generated["name"] for r in resources)
    names = {(r["kind"], r["metadata"]["name"]) for r in resources}
    for patch in kustomization.get("patches", []):
        for doc in _documents(directory / patch["path"]):
            assert (doc["kind"], doc["metadata"]["name"]) in names, f"patch of nothing: {doc}"
    return resources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_overlay_builds_with_real_entry_points(overlay: str) -> None:
    resources = _kustomize(K8S / "overlays" / overlay)
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources}
    assert ("Service", "api") in kinds
    assert any(k == "ConfigMap" and n.startswith("engine-config") for k, n in kinds)
    workloads = [r for r in resources if r["kind"] in {"Deployment", "Job"}]
    for workload in workloads:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            _assert_entry_point(container["command"])
    deployments = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Deployment"}
    autoscaled = {
        r["spec"]["scaleTargetRef"]["name"]
        for r in resources
        if r["kind"] == "HorizontalPodAutoscaler"
    }
    for queue in QUEUES:
        deployment = deployments[f"worker-{queue}"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"][-1] == f"workers.{queue}"
        assert {"livenessProbe", "readinessProbe", "resources"} <= set(container)
        assert f"worker-{queue}" in autoscaled
        metrics_env = {e["name"]: e["value"] for e in container["env"]}
        assert metrics_env[f"{queue.upper()}_METRICS_PORT"] == "9100"
