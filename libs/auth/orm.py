"""The ``auth`` schema: API keys and the append-only audit log.

``api_keys`` is keyed by (tenant_id, key_id) like every table; key ids are random and also unique
on their own, because a presented key names its id before anyone knows its tenant.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "auth"
metadata = MetaData(schema=SCHEMA)

api_keys = Table(
    "api_keys",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("key_id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("source", String(100), nullable=True),
    Column("name", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Index("api_keys_key_id", "key_id", unique=True),
    Index("api_keys_tenant_source", "tenant_id", "source"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(300), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("role", String(200), nullable=False),
    Column("service", String(64), nullable=False),
    Column("method", String(10), nullable=False),
    Column("route", String(300), nullable=False),
    Column("path", Text, nullable=False),
    Column("object_ids", JSONB, nullable=False),
    Column("before", JSONB, nullable=True),
    Column("after", JSONB, nullable=True),
    Column("status", Integer, nullable=False),
    Column("correlation_id", String(200), nullable=True),
    Index("audit_log_tenant_at", "tenant_id", "at"),
)
