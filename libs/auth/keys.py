"""API keys for machines: ``cbz_<key_id>_<secret>``, shown once, stored as sha256(secret).

The key id is public (it is listed, revoked and logged); only the secret's digest is stored, so a
database dump gives nobody a usable key. ``last_used_at`` is stamped at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update

from libs.auth.orm import api_keys
from libs.auth.principal import ROLES, Principal

PREFIX = "cbz"
KEY_RE = re.compile(r"^cbz_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")
TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LAST_USED_EVERY = timedelta(minutes=1)


class InvalidKeyRequest(ValueError):
    """A key that cannot be created as asked (unknown role, bad tenant)."""


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    tenant: str
    role: str
    source: str | None
    name: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def summary(self) -> dict[str, str | None]:
        return {
            "key_id": self.key_id,
            "tenant": self.tenant,
            "role": self.role,
            "source": self.source,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    match = KEY_RE.match(token)
    return (match["id"], match["secret"]) if match else None


def create_key(
    conn: Connection,
    *,
    tenant: str,
    role: str,
    now: datetime,
    source: str | None = None,
    name: str | None = None,
) -> tuple[str, KeyRecord]:
    """A new key: (the token, shown once; its record)."""
    if role not in ROLES:
        raise InvalidKeyRequest(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not TENANT_RE.match(tenant):
        raise InvalidKeyRequest(f"tenant {tenant!r} must be 1-64 letters, digits, '.', '_' or '-'")
    if source is not None and not (0 < len(source) <= 100 and source.isprintable()):
        raise InvalidKeyRequest("source must be one printable line of at most 100 characters")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(api_keys).values(
            tenant_id=tenant,
            key_id=key_id,
            secret_sha256=digest(secret),
            role=role,
            source=source,
            name=name,
            created_at=now,
        )
    )
    record = KeyRecord(key_id, tenant, role, source, name, now, None, None)
    return f"{PREFIX}_{key_id}_{secret}", record


def list_keys(conn: Connection, tenant: str | None = None) -> list[KeyRecord]:
    query = select(api_keys).order_by(api_keys.c.tenant_id, api_keys.c.created_at, api_keys.c.key_id)
    if tenant is not None:
        query = query.where(api_keys.c.tenant_id == tenant)
    return [_record(row) for row in conn.execute(query)]


def revoke_key(conn: Connection, key_id: str, now: datetime) -> bool:
    """Revoke KEY_ID (idempotent: an already revoked key keeps its first revocation time)."""
    found = conn.execute(select(api_keys.c.revoked_at).where(api_keys.c.key_id == key_id)).first()
    if found is None:
        return False
    if found.revoked_at is None:
        conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=now))
    return True


def verify_key(conn: Connection, token: str, now: datetime) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else (no detail for the caller)."""
    parsed = parse(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, digest(secret)):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id)
            .where((api_keys.c.last_used_at.is_(None)) | (api_keys.c.last_used_at <= now - LAST_USED_EVERY))
            .values(last_used_at=now)
        )
    return Principal(
        subject=f"key:{key_id}",
        kind="api_key",
        tenant=row.tenant_id,
        roles=frozenset({row.role}),
        source=row.source,
        key_id=key_id,
    )


def _record(row) -> KeyRecord:  # type: ignore[no-untyped-def]
    return KeyRecord(
        row.key_id,
        row.tenant_id,
        row.role,
        row.source,
        row.name,
        row.created_at,
        row.revoked_at,
        row.last_used_at,
    )


def source_owners(conn: Connection, tenant: str, sources: list[str]) -> tuple[set[str], dict[str, set[str]]]:
    """For the inbound binding: (the tenant's registered sources, tenants each of SOURCES is registered to),
    from unrevoked ingest keys, in one statement."""
    rows = conn.execute(
        select(api_keys.c.tenant_id, api_keys.c.source)
        .where(api_keys.c.role == "ingest")
        .where(api_keys.c.revoked_at.is_(None))
        .where(api_keys.c.source.is_not(None))
        .where((api_keys.c.tenant_id == tenant) | (api_keys.c.source == func.any(sources)))
    )
    own: set[str] = set()
    owners: dict[str, set[str]] = {}
    for row in rows:
        if row.tenant_id == tenant:
            own.add(row.source)
        owners.setdefault(row.source, set()).add(row.tenant_id)
    return own, owners
