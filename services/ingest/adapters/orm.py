"""ingest's tables (schema ``ingest``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table

metadata = MetaData(schema="ingest")

received = Table(
    "received",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("kind", String(50), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("event_id", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
"""What each source system already sent us: the duplicate detector."""
