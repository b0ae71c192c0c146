"""notifier's tables (schema ``notifier``).

Every key starts with ``tenant_id``: two tenants' accounts and contacts with the
same ids are different recipients and tasks.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text

metadata = MetaData(schema="notifier")

recipients = Table(
    "recipients",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
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
    Column("tenant_id", String(64), primary_key=True),
    Column("contact_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
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
    Index("ix_notifier_tasks_account", "tenant_id", "account_id"),
    Index("ix_notifier_tasks_queue", "tenant_id", "channel", "status"),
)
