"""ingest's tables (schema ``ingest``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(schema="ingest")

received = Table(
    "received",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("kind", String(50), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("event_id", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("account_id", String(200), nullable=True),
    Column("currency", String(3), nullable=True),
)
"""What each source system already sent us: the duplicate detector, and the account an
invoice or payment belongs to (adjustments, cancellations and reversals look it up)."""

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("operation", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""``Idempotency-Key`` headers: a retry with the same key and body gets the stored response."""

customers = Table(
    "customers",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("source_customer_id", String(200), primary_key=True),
    Column("customer_id", String(200), nullable=False),
    Column("document_id", String(64), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("link_rule", String(20), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_customers_customer_id", "customer_id"),
    Index("ix_customers_document_id", "document_id"),
    Index("ix_customers_email", "email"),
    Index("ix_customers_phone", "phone"),
)
"""Each source system's customer id -> the one canonical customer, with the rule that linked it."""

reference_entities = Table(
    "reference_entities",
    metadata,
    Column("entity_type", String(30), primary_key=True),
    Column("entity_id", String(200), primary_key=True),
    Column("name", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Product lines (ramos), offices, advisors, agencies: the latest state of each."""
