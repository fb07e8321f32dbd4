"""The deployment files, checked offline: docker-compose.yml against the Compose
specification's JSON schema, the Kubernetes overlays as kustomize would build them (and,
built by `kubectl kustomize`, against the Kubernetes API schemas that kubernetes-validate
ships), every command in them against the engine's real entry points, the Temporal setup
scripts with admin-tools' programs replaced by recorders, and what the hardening promises
(loopback-only ports, read-only code, locked-down pods, a NetworkPolicy per component).

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
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from workflows.names import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir())
QUEUES = ("orders", "payments", "notifications")
KUBERNETES_VERSION = "1.31"
"""The oldest Kubernetes the manifests must suit (seccompProfile, NetworkPolicy: 1.19+)."""


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
    (resources, generators, a version's name suffix, labels, images and JSON patches;
    other patches must name, or select, an existing resource)."""
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
    _as_a_version(kustomization, resources)
    names = {(r["kind"], r["metadata"]["name"]) for r in resources}
    for patch in kustomization.get("patches", []):
        if "target" in patch:
            chosen = [r for r in resources if _targets(patch["target"], r)]
            assert chosen, f"patch of nothing: {patch}"
            for op in yaml.safe_load(patch.get("patch", "[]")):
                for resource in chosen:
                    _json_add(resource, op)
            continue
        for doc in _documents(directory / patch["path"]):
            assert (doc["kind"], doc["metadata"]["name"]) in names, f"patch of nothing: {doc}"
    return resources


def _as_a_version(kustomization: dict[str, Any], resources: list[dict[str, Any]]) -> None:
    """A version's `nameSuffix` (the autoscalers' targets follow), `labels` and `images`."""
    suffix = kustomization.get("nameSuffix", "")
    for resource in resources:
        resource["metadata"]["name"] += suffix
        if resource["kind"] == "HorizontalPodAutoscaler":
            resource["spec"]["scaleTargetRef"]["name"] += suffix
        for labels in kustomization.get("labels", []):
            resource["metadata"].setdefault("labels", {}).update(labels["pairs"])
            if labels.get("includeSelectors") and resource["kind"] == "Deployment":
                resource["spec"]["selector"]["matchLabels"].update(labels["pairs"])
                resource["spec"]["template"]["metadata"]["labels"].update(labels["pairs"])
        if resource["kind"] in {"Deployment", "Job"}:
            for container in resource["spec"]["template"]["spec"]["containers"]:
                for image in kustomization.get("images", []):
                    if container["image"].split(":")[0] == image["name"]:
                        container["image"] = f"{image['newName']}:{image['newTag']}"


def _targets(target: dict[str, str], resource: dict[str, Any]) -> bool:
    """A patch target: its kind, and a label selector `key=value` or `key in (a,b)`."""
    labels = resource["metadata"].get("labels", {})
    selector = target.get("labelSelector", "")
    if " in " in selector:
        key, _, values = selector.partition(" in ")
        chosen = labels.get(key.strip()) in values.strip("() ").split(",")
    elif selector:
        key, _, value = selector.partition("=")
        chosen = labels.get(key) == value
    else:
        chosen = True
    return bool(resource["kind"] == target["kind"] and chosen)


def _json_add(resource: dict[str, Any], op: dict[str, Any]) -> None:
    """A JSON patch `add` (the only operation the overlays use); `-` appends."""
    assert op["op"] == "add", op
    *path, last = op["path"].strip("/").split("/")
    node: Any = resource
    for key in path:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if last == "-":
        node.append(op["value"])
    else:
        node[last] = op["value"]


def _component(template: dict[str, Any]) -> str:
    return str(template["metadata"]["labels"]["app.kubernetes.io/component"])


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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_runs_one_deployment_per_queue_and_build_id_each_autoscaled(
    overlay: str,
) -> None:
    """The workers run per version (docs/runbook.md, "A safe deploy"): each build id has, per
    queue, a Deployment of its own (its pods selected by the build id, its image of that
    tag, WORKER_BUILD_ID set) and an autoscaler of its own."""
    resources = _kustomize(K8S / "overlays" / overlay)
    autoscaled = {
        r["spec"]["scaleTargetRef"]["name"]
        for r in resources
        if r["kind"] == "HorizontalPodAutoscaler"
    }
    workers: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in resources:
        if r["kind"] == "Deployment" and _component(r["spec"]["template"]).startswith("worker-"):
            build = r["spec"]["selector"]["matchLabels"]["commerce-engine/build-id"]
            workers.setdefault((build, _component(r["spec"]["template"])), []).append(r)
    builds = {build for build, _ in workers}
    assert builds, "no worker version"
    assert set(workers) == {(b, f"worker-{q}") for b in builds for q in QUEUES}
    for (build, component), [deployment] in workers.items():
        queue = component.removeprefix("worker-")
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"][-1] == f"workers.{queue}"
        assert {"livenessProbe", "readinessProbe", "resources"} <= set(container)
        assert container["image"].endswith(f":{build}")
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["WORKER_BUILD_ID"] == build
        assert env[f"{queue.upper()}_METRICS_PORT"] == "9100"
        assert deployment["metadata"]["name"] in autoscaled


# --- hardening: what is published, which Temporal, who may write the code, what pods may do


def _default(value: str) -> str:
    """A Compose value with each `${NAME:-default}` replaced by its default."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", value)


def test_compose_publishes_every_port_on_loopback_only() -> None:
    published = {
        name: [_default(str(port)) for port in service.get("ports", [])]
        for name, service in _compose()["services"].items()
    }
    assert {"temporal", "temporal-ui", "mail", "api"} <= {n for n, p in published.items() if p}
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_compose_ui_is_read_only_and_reaches_the_codec_with_the_operator_cookie() -> None:
    services = _compose()["services"]
    ui = {k: _default(str(v)) for k, v in services["temporal-ui"]["environment"].items()}
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8000/codec"
    assert services["api"]["environment"]["CODEC_TRUST_UI_ORIGIN"] == "false"


def _dev_server_version() -> tuple[int, int]:
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    out = subprocess.run([temporal, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"Server (\d+)\.(\d+)\.", out.stdout)
    assert match, out.stdout
    return int(match[1]), int(match[2])


def test_compose_runs_the_maintained_temporal_images_of_make_runs_server_version() -> None:
    services = _compose()["services"]
    images = {name: _default(str(s.get("image", ""))) for name, s in services.items()}
    assert not [i for i in images.values() if "auto-setup" in i]
    server = images["temporal"]
    assert server.startswith("temporalio/server:")
    major, minor, _patch = server.split(":")[1].split(".")
    assert (int(major), int(minor)) == _dev_server_version()
    for job in ("temporal-schema", "temporal-setup"):
        assert images[job] == server.replace("/server:", "/admin-tools:")
    assert images["temporal-ui"].startswith("temporalio/ui:")

    def waits_for(service: str, other: str, condition: str) -> bool:
        return bool(services[service]["depends_on"][other]["condition"] == condition)

    assert waits_for("temporal-schema", "postgres", "service_healthy")
    assert waits_for("temporal", "temporal-schema", "service_completed_successfully")
    assert waits_for("temporal-setup", "temporal", "service_healthy")
    for engine in ("api", *QUEUES):
        assert waits_for(engine, "temporal-setup", "service_completed_successfully")
    env = services["temporal"]["environment"]
    assert env["DB"] == "postgres12"
    [mount] = services["temporal"]["volumes"]
    source, target, _mode = mount.split(":")
    assert (ROOT / source).is_file()
    assert env["DYNAMIC_CONFIG_FILE_PATH"] == target
    assert yaml.safe_load((ROOT / source).read_text())


FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$FAKE_LOG"
case "$(basename "$0") $*" in
  "nc "*|"sleep "*|"temporal operator cluster health"*) exit 0 ;;
  "temporal operator namespace describe"*) [ -n "${FAKE_NAMESPACE_EXISTS:-}" ] ;;
  "temporal operator search-attribute create"*)
    for name in ${FAKE_EXISTING:-}; do
      case "$*" in *"--name $name "*) exit 1 ;; esac
    done ;;
  "temporal operator search-attribute list"*)
    for name in ${FAKE_LISTED:-}; do echo "  $name  Keyword"; done ;;
  "temporal-sql-tool "*" create") [ -z "${FAKE_DB_EXISTS:-}" ] ;;
  "temporal-sql-tool "*"setup-schema"*) [ -z "${FAKE_SQL_DOWN:-}" ] ;;
esac
"""


def _run_setup(script: str, tmp_path: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """One of deploy/temporal's scripts, with admin-tools' programs replaced by recorders."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("temporal", "temporal-sql-tool", "nc", "sleep"):
        (bin_dir / tool).write_text(FAKE_TOOL)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    ran = subprocess.run(
        ["/bin/sh", str(ROOT / "deploy" / "temporal" / script)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_LOG": str(log), **env},
        capture_output=True,
        text=True,
    )
    return ran.returncode, log.read_text().splitlines()


def _service_env(name: str) -> dict[str, str]:
    env = _compose()["services"][name]["environment"]
    return {k: _default(str(v)) for k, v in env.items()}


def test_temporal_schema_job_creates_and_migrates_both_databases(tmp_path: Path) -> None:
    env = _service_env("temporal-schema")
    assert _compose()["services"]["temporal-schema"]["entrypoint"][-1].endswith("/setup-schema.sh")
    code, calls = _run_setup("setup-schema.sh", tmp_path, env)
    assert code == 0
    sql = [c for c in calls if c.startswith("temporal-sql-tool")]
    connect = "temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u engine"
    schema = "/etc/temporal/schema/postgresql/v12"
    assert sql == [
        f"{connect} --db temporal create",
        f"{connect} --db temporal setup-schema -v 0.0",
        f"{connect} --db temporal update-schema -d {schema}/temporal/versioned",
        f"{connect} --db temporal_visibility create",
        f"{connect} --db temporal_visibility setup-schema -v 0.0",
        f"{connect} --db temporal_visibility update-schema -d {schema}/visibility/versioned",
    ]
    rerun, _ = _run_setup("setup-schema.sh", tmp_path, {**env, "FAKE_DB_EXISTS": "1"})
    assert rerun == 0, "existing databases are the normal case on a restart"
    down, _ = _run_setup("setup-schema.sh", tmp_path, {**env, "FAKE_SQL_DOWN": "1"})
    assert down != 0


def test_temporal_setup_job_creates_the_namespace_and_every_search_attribute(
    tmp_path: Path,
) -> None:
    env = _service_env("temporal-setup")
    declared = dict(pair.split("=") for pair in env["SEARCH_ATTRIBUTES"].split())
    assert SEARCH_ATTRIBUTES.items() <= declared.items()
    assert declared["NeedsAttention"] == "Keyword"

    code, calls = _run_setup("setup-namespace.sh", tmp_path, env)
    assert code == 0
    assert "temporal operator namespace create --namespace default --retention 7d" in calls
    for name, kind in declared.items():
        create = f"temporal operator search-attribute create --namespace default --name {name}"
        assert f"{create} --type {kind}" in calls

    names = " ".join(declared)
    rerun, calls = _run_setup(
        "setup-namespace.sh",
        tmp_path,
        {**env, "FAKE_NAMESPACE_EXISTS": "1", "FAKE_EXISTING": names, "FAKE_LISTED": names},
    )
    assert rerun == 0
    assert not [c for c in calls if "namespace create" in c]
    refused, _ = _run_setup(
        "setup-namespace.sh", tmp_path, {**env, "FAKE_EXISTING": "OrderTotal", "FAKE_LISTED": ""}
    )
    assert refused != 0, "an attribute neither created nor present must fail the job"


def _stages(text: str) -> dict[str, str]:
    parts = re.split(r"^FROM \S+ AS (\S+)\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_dockerfile_code_is_root_owned_and_read_only_for_the_runtime_user() -> None:
    stages = _stages((ROOT / "deploy" / "Dockerfile").read_text())
    build, run = stages["build"], stages["run"]
    assert "--chown" not in run, "the runtime user must not own its code"
    assert re.search(r"^COPY --from=build /opt/venv /opt/venv$", run, re.MULTILINE)
    assert re.search(r"^COPY --from=build /app /app$", run, re.MULTILINE)
    compiled = build.index("python -m compileall -q /app")
    read_only = build.index("chmod -R a-w /app /opt/venv")
    assert compiled < read_only, "bytecode first, then nothing writable"
    [user] = re.findall(r"^USER (\S+)", run, re.MULTILINE)
    assert user.split(":")[0] not in {"root", "0"}
    assert not re.search(r"^RUN .*(chmod|chown)", run, re.MULTILINE)


def _pods(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        r["metadata"]["name"]: r["spec"]["template"]
        for r in resources
        if r["kind"] in {"Deployment", "Job"}
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_pods_are_locked_down(overlay: str) -> None:
    pods = _pods(_kustomize(K8S / "overlays" / overlay))
    components = {_component(template) for template in pods.values()}
    assert {"api", "migrate", *(f"worker-{q}" for q in QUEUES)} <= components
    for name, template in pods.items():
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    expressions = selector.get("matchExpressions", [])
    assert all(e["operator"] == "In" for e in expressions), "only In is understood here"
    return selector.get("matchLabels", {}).items() <= labels.items() and all(
        labels.get(e["key"]) in e["values"] for e in expressions
    )


def _egress_ports(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"].get("egress", []) for p in rule["ports"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_network_policy_per_component_allows_only_what_it_needs(overlay: str) -> None:
    resources = _kustomize(K8S / "overlays" / overlay)
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    for template in _pods(resources).values():
        labels, name = template["metadata"]["labels"], _component(template)
        applying = [p for p in policies if _selects(p, labels)]
        isolating = [p for p in applying if {"Ingress", "Egress"} <= set(p["spec"]["policyTypes"])]
        assert len(isolating) == 1, f"{name}: {len(isolating)} policies of its own"
        [policy] = isolating
        allowed = set().union(*(_egress_ports(p) for p in applying))
        assert {53, 5432} <= allowed, name
        assert (7233 in allowed) == (name != "migrate"), name
        assert (443 in allowed) == (name in {"worker-payments", "worker-notifications"}), name
        assert ({587, 465, 25} <= allowed) == (name == "worker-notifications"), name
        ingress = {p["port"] for r in policy["spec"]["ingress"] for p in r.get("ports", [])}
        expected = {"api": {8000}, "migrate": set()}.get(name, {9100})
        assert ingress == expected, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_build_follows_the_kubernetes_api_schemas(overlay: str) -> None:
    """Strict: a misspelt or misplaced field fails. Without kubectl, the files as written
    (the generators' stand-ins, made up by `_kustomize`, have no apiVersion to check)."""
    resources = [r for r in _kustomize(K8S / "overlays" / overlay) if "apiVersion" in r]
    assert {r["kind"] for r in resources} >= {"Deployment", "Job", "NetworkPolicy"}
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
