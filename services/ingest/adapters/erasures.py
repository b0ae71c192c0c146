"""ingest's erasure tombstones (schema ``ingest``): which customers were erased, and when.

A core system may re-send an old record of a customer erased under habeas data (Ley 1581 de
2012); the tombstone is how ingest recognises it and refuses it instead of bringing the data back.
It holds ids and dates only, never the erased data.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table, Text

from services.ingest.adapters.orm import TENANT, metadata

erasures = Table(
    "erasures",
    metadata,
    Column("tenant_id", String(TENANT), primary_key=True),
    Column("customer_id", String(200), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("legal_basis", String(64), nullable=False),
    Column("reason", Text, nullable=True),
)
"""One row per erased canonical customer id: the first erasure's time stays (erasing again is a no-op)."""

__all__ = ["erasures"]
