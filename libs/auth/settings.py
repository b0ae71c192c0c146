"""How credentials are checked (env prefix ``COBRANZA_AUTH_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    """OIDC for people; API keys need no settings (they live in ``auth.api_keys``).

    With neither ``oidc_jwks_url`` nor ``oidc_jwks_file`` set, JWTs are not accepted at all.
    """

    model_config = SettingsConfigDict(env_prefix="COBRANZA_AUTH_", extra="ignore")

    oidc_issuer: str | None = Field(default=None, description="the `iss` every token must carry")
    oidc_audience: str | None = Field(default=None, description="the `aud` every token must carry")
    oidc_jwks_url: str | None = Field(default=None, description="the identity provider's JWKS endpoint")
    oidc_jwks_file: Path | None = Field(default=None, description="a JWKS document on disk (air-gapped)")
    oidc_algorithms: list[str] = Field(default=["RS256"], description="accepted signature algorithms")
    oidc_roles_claim: str = Field(
        default="roles", description="claim with the role(s): a string or a list; dots walk nested claims"
    )
    oidc_tenant_claim: str = Field(default="tenant", description="claim with the tenant; dots walk nested")
    oidc_subject_claim: str = Field(default="sub", description="claim naming the person in the audit log")
    oidc_leeway_s: int = Field(default=60, ge=0, le=600, description="clock skew allowed on exp/nbf/iat")

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_jwks_url or self.oidc_jwks_file)
