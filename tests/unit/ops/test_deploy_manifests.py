"""deploy/: the Kubernetes manifests match the registry and carry probes, resources, config and secrets;
every alert rule uses series the code really exports."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import libs.runtime.relay
import libs.runtime.transport.kafka
import libs.runtime.worker  # noqa: F401  (their metrics register on import)
from libs.platform.registry import available_specs

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "kubernetes"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((K8S / "base").glob("*.yaml")) + sorted((K8S / "monitoring").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] != "Kustomization"]
    return docs


def test_the_committed_manifests_are_what_the_generator_writes() -> None:
    for name, text in _generator().manifests().items():
        assert (K8S / "base" / name).resolve().read_text() == text, (
            f"run deploy/kubernetes/generate.py ({name})"
        )


def test_every_service_has_a_deployment_with_probes_resources_config_and_secrets() -> None:
    docs = _documents()
    by_kind: dict[tuple[str, str], dict[str, Any]] = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for spec in available_specs():
        name = f"cobranza-{spec.name}"
        deployment = by_kind[("Deployment", name)]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"][:3] == ["service", "run", spec.name]
        assert container["ports"] == [{"name": "http", "containerPort": spec.http_port, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and container["resources"][
            "limits"
        ]
        secrets = {
            e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e
        }
        assert secrets == {
            "DATABASE_URL": f"cobranza-{spec.name}-db",
            "KAFKA_BOOTSTRAP_SERVERS": "cobranza-kafka",
        }
        sources = [next(iter(s.values()))["name"] for s in container["envFrom"]]
        assert "cobranza-config" in sources and "cobranza-oidc" in sources
        (migrate,) = pod["initContainers"]
        assert migrate["args"] == ["db", "upgrade", spec.name]
        assert migrate["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "cobranza-db-owner"
        assert container["image"] == migrate["image"] == _generator().IMAGE
        service = by_kind[("Service", name)]
        assert service["spec"]["ports"][0]["port"] == spec.http_port
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert by_kind[("PodDisruptionBudget", name)]["spec"]["selector"] == deployment["spec"]["selector"]
        assert by_kind[("ServiceMonitor", name)]["spec"]["endpoints"][0]["path"] == "/metrics"
    assert ("ConfigMap", "cobranza-config") in by_kind


def test_the_monitoring_overlay_carries_the_alert_rules_and_the_compose_grafana_dashboard() -> None:
    """Kubernetes gets what docker-compose's Prometheus and Grafana load: the same rules, the same
    dashboards (a ConfigMap the Grafana chart's sidecar picks up by its ``grafana_dashboard`` label)."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in _documents()}
    rule = by_kind[("PrometheusRule", "cobranza-alerts")]
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    dashboards = by_kind[("ConfigMap", "cobranza-grafana-dashboards")]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert files and dashboards["data"] == {f.name: f.read_text() for f in files}
    overlay = yaml.safe_load((K8S / "monitoring" / "kustomization.yaml").read_text())
    assert {"alerts.yaml", "grafana-dashboards.yaml"} <= set(overlay["resources"])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders_the_base_and_the_monitoring_overlay() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "monitoring")], capture_output=True, text=True, check=True
    ).stdout
    kinds = [d["kind"] for d in yaml.safe_load_all(rendered) if d]
    n = len(available_specs())
    assert kinds.count("Deployment") == kinds.count("Service") == kinds.count("ServiceMonitor") == n
    assert kinds.count("PrometheusRule") == 1


def _exported_series() -> set[str]:
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    names = {"up"}
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, ()))
    return names


def test_every_alert_uses_exported_series_and_the_required_alerts_exist() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    exported = _exported_series()
    alerts = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            alerts[rule["alert"]] = rule["expr"]
            used = set(re.findall(r"\b(cobranza_[a-z_]+|up)\b(?=\s*[{\[)=><]|\s*$)", rule["expr"]))
            assert used, rule["alert"]
            assert used <= exported, f"{rule['alert']}: {used - exported} not exported"
            assert rule["annotations"]["summary"] and rule["labels"]["severity"] in ("warning", "critical")
    joined = " ".join(alerts.values())
    for series in (
        "cobranza_consumer_lag",
        'outcome="dead_lettered"',
        "cobranza_outbox_parked",
        "cobranza_http_errors_total",
    ):
        assert series in joined, series
    assert "CobranzaNoEventsConsumed" in alerts
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert any(p.endswith("alerts*.yml") for p in prometheus["rule_files"])
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert (
        "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"
        in compose["services"]["prometheus"]["volumes"]
    )
