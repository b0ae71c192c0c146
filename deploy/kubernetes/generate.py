"""Render the Kubernetes manifests (a kustomize base, plain YAML) of every service from the registry.

    .venv/bin/python deploy/kubernetes/generate.py        # rewrites deploy/kubernetes/base/

One image (deploy/Dockerfile) runs every service; each service gets a Deployment (probes on /healthz
and /readyz, resources, config from a ConfigMap, credentials from Secrets, an init container that
applies its migrations under the owner role), a Service and a PodDisruptionBudget; ``monitoring/``
adds on top of the base a ServiceMonitor per service and a PrometheusRule with
deploy/prometheus/alerts.yml (Prometheus Operator), and a ConfigMap with the docker-compose Grafana
dashboard (deploy/grafana/dashboards/, labelled for the Grafana chart's dashboard sidecar).
tests/unit/ops/test_deploy_manifests.py checks the files are what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = Path(__file__).resolve().parent / "base"
IMAGE = "ghcr.io/cobranza/cobranza:latest"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
LABEL = "app.kubernetes.io"

# what each service's pods may use; segmentation trains and scores models, ingest parses files
RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "default": {"requests": {"cpu": "250m", "memory": "384Mi"}, "limits": {"cpu": "1", "memory": "768Mi"}},
    "ingest": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
    "segmentation": {"requests": {"cpu": "500m", "memory": "768Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
}


class Block(str):
    """A multi-line value written as a YAML literal block (``|``): a dashboard stays readable JSON."""


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(
    Block, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")
)


def labels(name: str) -> dict[str, str]:
    return {f"{LABEL}/name": name, f"{LABEL}/part-of": "cobranza", f"{LABEL}/component": "service"}


def secret_env(var: str, secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": var, "valueFrom": {"secretKeyRef": ref}}


def deployment(name: str, port: int) -> dict[str, Any]:
    common_env = [
        secret_env("KAFKA_BOOTSTRAP_SERVERS", "cobranza-kafka", "KAFKA_BOOTSTRAP_SERVERS"),
    ]
    env_from = [
        {"configMapRef": {"name": "cobranza-config"}},
        {"configMapRef": {"name": f"cobranza-{name}-config", "optional": True}},
        {"secretRef": {"name": "cobranza-oidc", "optional": True}},
    ]
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3}
    container = {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["service", "run", name, "--host", "0.0.0.0", "--port", str(port)],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [secret_env("DATABASE_URL", f"cobranza-{name}-db", "DATABASE_URL"), *common_env],
        "envFrom": env_from,
        "resources": RESOURCES.get(name, RESOURCES["default"]),
        "startupProbe": {**probe, "failureThreshold": 30, "periodSeconds": 2},
        "livenessProbe": probe,
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    migrate = {
        "name": "migrate",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["db", "upgrade", name],
        "env": [secret_env("DATABASE_URL", "cobranza-db-owner", "DATABASE_URL")],
        "envFrom": [{"configMapRef": {"name": "cobranza-config"}}],
        "resources": RESOURCES["default"],
        "securityContext": container["securityContext"],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"cobranza-{name}", "labels": labels(name)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {f"{LABEL}/name": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels(name),
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)},
                },
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "initContainers": [migrate],
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"cobranza-{name}", "labels": labels(name)},
        "spec": {
            "selector": {f"{LABEL}/name": name},
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def disruption_budget(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"cobranza-{name}", "labels": labels(name)},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {f"{LABEL}/name": name}}},
    }


def service_monitor(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": f"cobranza-{name}", "labels": labels(name)},
        "spec": {
            "selector": {"matchLabels": {f"{LABEL}/name": name}},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def prometheus_rule() -> dict[str, Any]:
    """The alert rules docker-compose's Prometheus loads, as the Prometheus Operator's resource."""
    rules = yaml.safe_load(ALERTS.read_text())
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "cobranza-alerts", "labels": {f"{LABEL}/part-of": "cobranza"}},
        "spec": {"groups": rules["groups"]},
    }


def grafana_dashboards() -> dict[str, Any]:
    """docker-compose's Grafana dashboards, for the Grafana chart's sidecar (label ``grafana_dashboard``)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cobranza-grafana-dashboards",
            "labels": {f"{LABEL}/part-of": "cobranza", "grafana_dashboard": "1"},
        },
        "data": {path.name: Block(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))},
    }


def config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cobranza-config", "labels": {f"{LABEL}/part-of": "cobranza"}},
        "data": {
            "COBRANZA_ENVIRONMENT": "kubernetes",
            "COBRANZA_LOG_JSON": "true",
            "COBRANZA_LOG_LEVEL": "INFO",
            "COBRANZA_STATE_DIR": "/tmp/cobranza",
            "OTEL_TRACES_EXPORTER": "none",
        },
    }


def manifests() -> dict[str, str]:
    """path relative to ``base/`` → YAML text, for every service the registry lists."""
    sys.path.insert(0, str(ROOT))
    from libs.platform.registry import available_specs

    files: dict[str, str] = {}
    names = []
    for spec in available_specs():
        docs = [
            deployment(spec.name, spec.http_port),
            service(spec.name, spec.http_port),
            disruption_budget(spec.name),
        ]
        files[f"{spec.name}.yaml"] = yaml.safe_dump_all(docs, sort_keys=False)
        files[f"../monitoring/{spec.name}.yaml"] = yaml.safe_dump(service_monitor(spec.name), sort_keys=False)
        names.append(spec.name)
    files["config.yaml"] = yaml.safe_dump(config_map(), sort_keys=False)
    files["../monitoring/alerts.yaml"] = yaml.safe_dump(prometheus_rule(), sort_keys=False, width=120)
    files["../monitoring/grafana-dashboards.yaml"] = yaml.dump(
        grafana_dashboards(), Dumper=Dumper, sort_keys=False
    )
    files["kustomization.yaml"] = yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["config.yaml", *(f"{n}.yaml" for n in names)],
        },
        sort_keys=False,
    )
    files["../monitoring/kustomization.yaml"] = yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [
                "../base",
                *(f"{n}.yaml" for n in names),
                "alerts.yaml",
                "grafana-dashboards.yaml",
            ],
        },
        sort_keys=False,
    )
    header = "# generated by deploy/kubernetes/generate.py from libs/platform/registry.py: do not edit\n"
    return {name: header + text for name, text in files.items()}


def main() -> None:
    for name, text in manifests().items():
        path = (BASE / name).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
