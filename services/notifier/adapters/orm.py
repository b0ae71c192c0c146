"""notifier's tables (schema ``notifier``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

metadata = MetaData(schema="notifier")

recipients = Table(
    "recipients",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("email", String(320)),
    Column("phone", String(40)),
    Column("address", String(500)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("contact_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("channel", String(16), nullable=False, index=True),
    Column("strategy", String(128), nullable=False),
    Column("step", String(128), nullable=False),
    Column("template", String(128), nullable=False),
    Column("language", String(16), nullable=False),
    Column("scheduled_for", DateTime(timezone=True), nullable=False),
    Column(
        "status",
        String(16),
        nullable=False,
        index=True,
        doc="scheduled, ready (waits for the dispatcher), queued (call center), or a contact outcome status",
    ),
    Column("provider", String(64)),
    Column("detail", Text),
    Column("artifact", String(500)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
