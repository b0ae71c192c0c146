"""Every route of every service x every role: 401 anonymous, 403 for a role the policy does not
list, neither for one it does; and no route without a policy entry (fail closed needs a test)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from libs.auth.policy import POLICY, is_mapped, roles_for
from libs.auth.principal import ROLES
from libs.auth.routes import api_routes
from libs.platform.registry import SERVICE_NAMES
from libs.runtime.http import create_app
from libs.runtime.transport.memory import InMemoryPlatform

PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics"}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def routes(platform: InMemoryPlatform) -> list[tuple[str, str, str, Any]]:
    """(service, method, template, app) of every API route of every service."""
    out = []
    for name in SERVICE_NAMES:
        app = create_app(platform.context(name))
        for template, methods, _ in api_routes(app):
            for method in sorted(methods - {"HEAD"}):
                out.append((name, method, template, app))
    return out


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "X1", template)


def call(client: TestClient, method: str, template: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, concrete(template), headers=headers, json=body)


def test_every_route_has_a_policy_entry(everything: InMemoryPlatform) -> None:
    unmapped = [
        f"{service}: {method} {template}"
        for service, method, template, _ in routes(everything)
        if template not in DOCS and not is_mapped(method, template)
    ]
    assert unmapped == [], "add these to libs/auth/policy.py"


def test_every_route_times_every_role(everything: InMemoryPlatform, role_keys: dict[str, str]) -> None:
    checked = 0
    clients: dict[int, TestClient] = {}
    for service, method, template, app in routes(everything):
        if template in DOCS:
            continue
        client = clients.setdefault(id(app), TestClient(app, raise_server_exceptions=False))
        anonymous = call(client, method, template, None)
        if roles_for(method, template) is None:  # probes and the login form
            assert template in PUBLIC_PATHS | {"/login", "/logout"}
            assert anonymous.status_code not in (401, 403), (service, method, template)
            continue
        assert anonymous.status_code == 401, (service, method, template, anonymous.text)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        allowed = roles_for(method, template)
        assert allowed is not None and "admin" in allowed
        for role in ROLES:
            got = call(client, method, template, role_keys[role]).status_code
            if role in allowed:
                assert got not in (401, 403), (service, method, template, role, got)
            else:
                assert got == 403, (service, method, template, role, got)
            checked += 1
    assert checked >= len(POLICY) * len(ROLES) // 2


@pytest.mark.parametrize("token", ["nonsense", "cbz_0000000000000000_" + "a" * 43, ""])
def test_unknown_or_malformed_credentials_are_401(everything: InMemoryPlatform, token: str) -> None:
    client = TestClient(create_app(everything.context("aging")))
    got = client.get("/v1/buckets", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 401 and got.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/buckets", headers={"Authorization": "Basic abc"}).status_code == 401


def test_an_unmapped_route_is_admin_only() -> None:
    assert roles_for("DELETE", "/v1/not-in-the-policy") == frozenset({"admin"})
    assert roles_for("GET", "/healthz") is None


def test_the_openapi_document_declares_the_bearer_scheme_so_docs_can_authorize(
    everything: InMemoryPlatform, role_keys: dict[str, str]
) -> None:
    """``/docs`` (Swagger UI, served offline) reads ``/openapi.json``; its *Authorize* button sends
    ``Authorization: Bearer <key>`` because every credentialed operation declares that scheme."""
    for name in SERVICE_NAMES:
        client = TestClient(create_app(everything.context(name)))
        document = client.get("/openapi.json").json()
        scheme = document["components"]["securitySchemes"]["bearer"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer"), name
        operations = [
            (path, method, op)
            for path, item in document["paths"].items()
            for method, op in item.items()
            if path not in PUBLIC_PATHS and not path.startswith(("/login", "/logout"))
        ]
        assert operations, name
        for path, method, op in operations:
            assert {"bearer": []} in op.get("security", []), (name, method, path)
        page = client.get("/docs")
        assert (
            page.status_code == 200 and "/openapi.json" in page.text and "/static-offline-docs/" in page.text
        )
    # what Authorize sends is an ordinary credential
    aging = TestClient(create_app(everything.context("aging")))
    assert aging.get("/v1/buckets", headers={"Authorization": f"Bearer {role_keys['bi']}"}).status_code == 200


def test_the_policy_gives_each_role_what_issue_10_says() -> None:
    """auditor: read-only, every read (decision and audit logs too); bi: reads only; ingest and
    provider: their machines' routes; supervisor: strategies, rules, manual matches, and all an agent does."""
    for (method, template), allowed in POLICY.items():
        if method == "GET":
            assert "auditor" in allowed, template
        else:
            assert not allowed & {"auditor", "bi"}, (method, template)
        if "agent" in allowed:
            assert "supervisor" in allowed, (method, template)
    for route in (
        ("POST", "/v1/strategies"),
        ("PUT", "/v1/rules"),
        ("POST", "/v1/suspense/{payment_id}/apply"),
        ("PUT", "/v1/usury-rates"),
    ):
        assert POLICY[route] == {"supervisor", "admin"}, route
    for route in (
        ("POST", "/v1/accounts/{account_id}/promises"),
        ("POST", "/v1/accounts/{account_id}/plans"),
        ("POST", "/v1/accounts/{account_id}/pauses"),
        ("POST", "/v1/accounts/{account_id}/resume"),
    ):
        assert POLICY[route] == {"agent", "supervisor", "admin"}, route
    assert {"provider", "agent"} <= POLICY[("POST", "/v1/tasks/{contact_id}/outcome")]
    assert POLICY[("GET", "/v1/auth/audit")] == {"auditor", "admin"}
    assert "auditor" in POLICY[("GET", "/v1/accounts/{account_id}/decisions")]
