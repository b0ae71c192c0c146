"""docker-compose.yml: no literal secret, PostgreSQL and Kafka not published, one DB login per service."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("ingest", "aging", "segmentation", "strategy", "notifier", "reconciliation", "reporting")
REQUIRED = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]*\}$")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def test_no_password_has_a_literal_value() -> None:
    for name, service in _compose()["services"].items():
        for key, value in _env(service).items():
            if "PASSWORD" in key:
                assert REQUIRED.match(value), f"{name}.{key} must be ${{VAR:?...}}, is {value!r}"
            for userinfo in re.findall(r"://(.*)@", value):
                required = re.findall(r"\$\{[A-Z0-9_]+:\?[^}]*\}", userinfo)
                masked = re.sub(r"\$\{[^}]*\}", "VAR", userinfo)
                assert masked.split(":", 1)[1] == "VAR" and required, (
                    f"{name}.{key} embeds a literal password"
                )


def test_postgres_and_kafka_are_internal_and_http_ports_bind_to_an_address() -> None:
    services = _compose()["services"]
    assert "ports" not in services["postgres"]
    assert "ports" not in services["kafka"]
    assert "EXTERNAL" not in _env(services["kafka"])["KAFKA_LISTENERS"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == set(SERVICES) | {"prometheus", "grafana"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("${COBRANZA_BIND:-127.0.0.1}:"), f"{name} publishes {port}"


def test_each_service_has_its_own_login_and_the_init_script_creates_them() -> None:
    env = _compose()["x-cobranza-env"]
    script = (ROOT / "deploy" / "postgres" / "init-roles.sh").read_text(encoding="utf-8")
    for svc in SERVICES:
        url = env[f"COBRANZA_{svc.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql://cobranza_{svc}_login:")
        assert svc in script
    assert "cobranza_${svc}_login" in script
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for line in example.splitlines():
        if "PASSWORD=" in line:
            assert line.endswith("="), f".env.example must not carry a password: {line}"
