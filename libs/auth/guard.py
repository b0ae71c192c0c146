"""The app-level dependency: a credential on every non-public route, the route's roles, the tenant.

Credentials arrive as ``Authorization: Bearer <token>``: ``cbz_…`` is an API key, anything else a
JWT (when OIDC is configured). The dashboard's pages (GET) also accept the login cookie.
The tenant is the credential's; there is no cross-tenant credential (an admin key is an admin of
its own tenant: make one per tenant).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from libs.auth.keys import PREFIX, TENANT_RE, verify_key
from libs.auth.oidc import JwtVerifier
from libs.auth.policy import roles_for
from libs.auth.principal import Principal
from libs.auth.routes import matched_template
from libs.auth.settings import AuthSettings

COOKIE = "cobranza_session"
PRINCIPAL_KEY = "cobranza.principal"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(detail: str = "a credential is required: Authorization: Bearer <token>") -> HTTPException:
    return HTTPException(401, detail=detail, headers=CHALLENGE)


class Authenticator:
    """Turns a presented token into a principal (API keys in ``auth.api_keys``, JWTs by JWKS)."""

    def __init__(
        self, engine: Engine, settings: AuthSettings | None = None, now: Callable[[], datetime] | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings or AuthSettings()
        self.now = now or (lambda: datetime.now(UTC))
        self._jwt = JwtVerifier(self.settings) if self.settings.oidc_enabled else None

    def authenticate(self, token: str) -> Principal | None:
        if token.startswith(PREFIX + "_"):
            with self.engine.begin() as conn:
                return verify_key(conn, token, self.now())
        if self._jwt is None:
            return None
        principal = self._jwt.verify(token)
        if principal is None or not TENANT_RE.match(principal.tenant):
            return None
        return principal


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(COOKIE) or None
    return None


BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`cbz_…`, from `cobranza auth key create`) or an OIDC access token (JWT)",
)
"""Declares the HTTP bearer scheme in every app's OpenAPI document (so ``/docs``' *Authorize* sends
``Authorization: Bearer …``); the check itself is :func:`authorize`'s (the cookie too, policy roles)."""


def authorize(
    request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None
) -> None:
    """Installed on every app (``create_app``): 401 without a valid credential, 403 without a role."""
    template = matched_template(request.scope)
    allowed = roles_for(request.method, template or "unmatched")
    if allowed is None:
        return
    authenticator: Authenticator = request.app.state.authenticator
    token = presented_token(request)
    if token is None:
        raise unauthorized()
    principal = authenticator.authenticate(token)
    if principal is None:
        raise unauthorized("the credential is not valid (unknown, revoked, expired or badly signed)")
    request.scope[PRINCIPAL_KEY] = principal
    if not principal.roles & allowed:
        raise HTTPException(403, detail=f"role {', '.join(sorted(principal.roles))} may not call this route")


def current_principal(request: Request) -> Principal:
    principal = request.scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise unauthorized()
    return principal
