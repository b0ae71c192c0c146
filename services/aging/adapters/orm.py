"""aging's tables (schema ``aging``)."""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, MetaData, Numeric, String, Table

metadata = MetaData(schema="aging")

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("open_amount", Numeric(18, 4), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("product_line", String(128), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
