"""ingest's tables (schema ``ingest``).

Every table starts its keys with ``tenant_id``: one tenant's ids never meet another's.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(schema="ingest")

TENANT = 64
SOURCE = 500
"""A source system's name: an ``X-Source-System`` header or an inbound event's CloudEvents ``source``."""
EXTERNAL_ID = 300
"""A natural key as sent (an adjustment's is ``invoice/adjustment``: two identifiers and a slash)."""

MINTED_KINDS = ("invoice", "payment")
"""The documents whose canonical ids are minted (unique per tenant and kind); follow-ups are named after them."""

received = Table(
    "received",
    metadata,
    Column("tenant_id", String(TENANT), primary_key=True),
    Column("source", String(SOURCE), primary_key=True),
    Column("kind", String(50), primary_key=True),
    Column("external_id", String(EXTERNAL_ID), primary_key=True),
    Column("canonical_id", String(EXTERNAL_ID), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("account_id", String(200), nullable=True),
    Column("currency", String(3), nullable=True),
    Index(
        "uq_received_canonical",
        "tenant_id",
        "kind",
        "canonical_id",
        unique=True,
        postgresql_where=text("kind IN ('invoice', 'payment')"),  # MINTED_KINDS
    ),
)
"""What each source system already sent us, under its own id, and the canonical id ingest minted
for it (the id every other service sees): the duplicate detector, and the account and currency an
invoice or payment belongs to (that source's adjustments, cancellations and reversals look them up)."""

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(TENANT), primary_key=True),
    Column("source", String(SOURCE), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("operation", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""``Idempotency-Key`` headers per (tenant, source): a retry with the same key and body gets the
stored response."""

customers = Table(
    "customers",
    metadata,
    Column("tenant_id", String(TENANT), primary_key=True),
    Column("source", String(SOURCE), primary_key=True),
    Column("source_customer_id", String(200), primary_key=True),
    Column("customer_id", String(200), nullable=False),
    Column("document_id", String(64), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("link_rule", String(20), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_customers_customer_id", "tenant_id", "customer_id"),
    Index("ix_customers_document_id", "tenant_id", "document_id"),
    Index("ix_customers_email", "tenant_id", "email"),
    Index("ix_customers_phone", "tenant_id", "phone"),
)
"""Each source system's customer id -> the one canonical customer, with the rule that linked it."""

reference_entities = Table(
    "reference_entities",
    metadata,
    Column("tenant_id", String(TENANT), primary_key=True),
    Column("entity_type", String(30), primary_key=True),
    Column("entity_id", String(200), primary_key=True),
    Column("name", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Product lines (ramos), offices, advisors, agencies: the latest state of each."""

debtors = Table(
    "debtors",
    metadata,
    Column("tenant_id", String(TENANT), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("customer_id", String(200), nullable=False),
    Column("data", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_debtors_customer_id", "tenant_id", "customer_id"),
)
"""Standardised debtors of invoices, keyed by the sha256 of the debtor as sent (every field, and the
standardisation libraries' versions): a debtor re-sent (the next instalment, a re-run file, another
process) is read back in the batch's one lookup instead of going through phonenumbers and
email-validator again. ``customer_id`` is the debtor's id as sent: the erasure deletes its rows."""
