"""OIDC JWTs for people: signature against the provider's JWKS, issuer, audience, expiry.

The role(s) and the tenant come from configurable claims (``AuthSettings``); a token without a
tenant or without a known role is refused like a bad signature: the caller learns nothing more.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from libs.auth.principal import ROLES, Principal
from libs.auth.settings import AuthSettings


class JwtVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if settings.oidc_jwks_url:
            self._client = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=300)
        elif settings.oidc_jwks_file:
            self._keys = jwt.PyJWKSet.from_dict(json.loads(settings.oidc_jwks_file.read_text()))

    def _signing_key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        candidates = [k for k in self._keys.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise jwt.InvalidTokenError("no JWKS key for the token's kid")
        return candidates[0].key

    def verify(self, token: str) -> Principal | None:
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=s.oidc_algorithms,
                audience=s.oidc_audience,
                issuer=s.oidc_issuer,
                leeway=s.oidc_leeway_s,
                options={
                    "require": ["exp"]
                    + (["iss"] if s.oidc_issuer else [])
                    + (["aud"] if s.oidc_audience else [])
                },
            )
        except (jwt.PyJWTError, ValueError, KeyError):
            return None
        tenant = _claim(claims, s.oidc_tenant_claim)
        raw_roles = _claim(claims, s.oidc_roles_claim)
        subject = _claim(claims, s.oidc_subject_claim)
        roles = {raw_roles} if isinstance(raw_roles, str) else set(raw_roles or [])
        known = frozenset(r for r in roles if isinstance(r, str) and r in ROLES)
        if not isinstance(tenant, str) or not tenant or not known:
            return None
        return Principal(subject=str(subject or "unknown"), kind="jwt", tenant=tenant, roles=known)


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
