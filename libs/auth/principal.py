"""Who is calling: the credential's subject, tenant, roles and (for ingest keys) source system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ROLES: tuple[str, ...] = ("ingest", "agent", "supervisor", "provider", "auditor", "bi", "admin")
"""Every role a credential may carry (issue #10)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    """``key:<key_id>`` for an API key, the JWT's subject claim for a person."""
    kind: Literal["api_key", "jwt"]
    tenant: str
    roles: frozenset[str]
    source: str | None = None
    key_id: str | None = None

    @property
    def human(self) -> bool:
        """People (JWTs) and keys of roles people use; ingest and provider keys are machines."""
        return self.kind == "jwt" or not self.roles <= {"ingest", "provider"}
