"""Credentials for tests: real API keys in the test database, and clients that send them.

* ``api_client(ctx, role="admin", tenant="default")``: a ``TestClient`` of the service's app that
  sends ``Authorization: Bearer <key>`` of ROLE in TENANT. A request that names another tenant with
  the old ``X-Cobranza-Tenant`` header is sent with a key of that tenant instead (the header itself
  is dropped: servers take the tenant from the credential), so multi-tenant tests stay short.
* ``new_key(ctx_or_url, role, tenant, source)``: the token alone (for httpx, the CLI, headers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from libs.auth.keys import TENANT_RE, create_key
from libs.runtime.context import ServiceContext
from libs.runtime.db import make_engine
from libs.runtime.http import TENANT_HEADER, create_app


def database_url(target: ServiceContext | str) -> str:
    if isinstance(target, str):
        return target
    return target.engine.url.render_as_string(hide_password=False)


def new_key(
    target: ServiceContext | str,
    role: str = "admin",
    tenant: str = "default",
    source: str | None = None,
    name: str | None = None,
) -> str:
    """A fresh API key, stored hashed in ``auth.api_keys`` of the context's (or URL's) database."""
    engine = make_engine(database_url(target), service="auth", pool_size=1)
    try:
        with engine.begin() as conn:
            token, _ = create_key(
                conn, tenant=tenant, role=role, source=source, name=name, now=datetime.now(UTC)
            )
    finally:
        engine.dispose()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class KeyedClient(TestClient):
    """A TestClient with a key of ROLE per tenant, chosen by the request's ``X-Cobranza-Tenant``."""

    def __init__(
        self, app: Any, ctx: ServiceContext, role: str, tenant: str, source: str | None, **kwargs: Any
    ) -> None:
        self._ctx, self._role, self._source, self._tenant = ctx, role, source, tenant
        self._keys: dict[str, str] = {}
        headers = {**bearer(self.key_for(tenant)), **kwargs.pop("headers", {})}
        super().__init__(app, headers=headers, **kwargs)

    def key_for(self, tenant: str) -> str:
        if tenant not in self._keys:
            self._keys[tenant] = new_key(self._ctx, self._role, tenant, self._source)
        return self._keys[tenant]

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        headers = dict(kwargs.pop("headers", None) or {})
        named = next((k for k in headers if k.lower() == TENANT_HEADER.lower()), None)
        if named is not None:
            tenant = headers.pop(named)
            if TENANT_RE.match(tenant) and not any(k.lower() == "authorization" for k in headers):
                headers["Authorization"] = f"Bearer {self.key_for(tenant)}"
        return super().request(method, url, headers=headers or None, **kwargs)


def api_client(
    ctx: ServiceContext,
    role: str = "admin",
    tenant: str = "default",
    source: str | None = None,
    app: Any = None,
    **kwargs: Any,
) -> TestClient:
    """The service's app (or APP) behind a client authenticated as ROLE of TENANT."""
    return KeyedClient(app if app is not None else create_app(ctx), ctx, role, tenant, source, **kwargs)
