"""strategy's tables (schema ``strategy``): every key starts with the tenant."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(schema="strategy")


def _tenant() -> Column[str]:
    return Column("tenant_id", String(64), primary_key=True)


accounts = Table(
    "accounts",
    metadata,
    _tenant(),
    Column("account_id", String(128), primary_key=True),
    Column("customer_id", String(128)),
    Column("timezone", String(64)),
    Column("country", String(2)),
    Column("segment", String(200)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_strategy_accounts_tenant_customer", "tenant_id", "customer_id"),
)

# aging's bucket per (account, currency): one currency turning current never cures another
account_buckets = Table(
    "account_buckets",
    metadata,
    _tenant(),
    Column("account_id", String(128), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("bucket", String(200), nullable=False),
    Column("stage", String(200), doc="the bucket's stage in the tenant's scheme, when aging sent it"),
    Column("cured", Boolean, nullable=False, doc="the bucket is the scheme's current stage"),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

consents = Table(
    "consents",
    metadata,
    _tenant(),
    Column("account_id", String(128), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("consent", Boolean, nullable=False),
    Column("consented_at", DateTime(timezone=True), doc="when the debtor consented, as the core system says"),
    Column(
        "withdrawn_at",
        DateTime(timezone=True),
        doc="the debtor's last opt-out: only a consent given after it turns the channel back on",
    ),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

promises = Table(
    "promises",
    metadata,
    _tenant(),
    Column("promise_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("paid_amount", Numeric(18, 4), nullable=False, doc="cash counted toward the promise so far"),
    Column("currency", String(3), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("made_on", Date, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, doc="open, kept or broken"),
    Column("resolved_at", DateTime(timezone=True)),
    Index("ix_strategy_promises_tenant_account", "tenant_id", "account_id", "currency"),
)

# cash from cobranza.payment.applied, taken back by cobranza.payment.reversal_applied
payments = Table(
    "payments",
    metadata,
    _tenant(),
    Column("payment_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Numeric(18, 4), nullable=False, doc="cash reconciliation applied to the account"),
    Column("unapplied", Numeric(18, 4), nullable=False, doc="not yet counted toward any promise"),
    Column("paid_on", Date, nullable=False, doc="payment.applied's applied_on"),
    Column(
        "arrived_at",
        DateTime(timezone=True),
        nullable=False,
        doc="when reconciliation applied the cash (the event's time)",
    ),
    Column("reversed_at", DateTime(timezone=True)),
    Index("ix_strategy_payments_tenant_account", "tenant_id", "account_id", "currency"),
)

# what each payment counted toward each promise, so a reversal takes back exactly that
promise_payments = Table(
    "promise_payments",
    metadata,
    _tenant(),
    Column("promise_id", String(128), primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    Column("amount", Numeric(18, 4), nullable=False),
    Index("ix_strategy_promise_payments_tenant_payment", "tenant_id", "payment_id"),
)

contacts = Table(
    "contacts",
    metadata,
    _tenant(),
    Column("contact_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False, doc="the debt the contact is about"),
    Column("channel", String(16), nullable=False),
    Column("kind", String(16), nullable=False, doc="pre_due or dunning"),
    Column("playbook", String(200), nullable=False),
    Column("step", String(128), nullable=False),
    Column("template", String(128), nullable=False),
    Column("language", String(16), nullable=False),
    Column("planned_for", DateTime(timezone=True), nullable=False),
    Column("scheduled_for", DateTime(timezone=True)),
    Column("status", String(16), nullable=False, doc="planned, due, skipped, cancelled"),
    Column("reason", String(200)),
    Column("strategy_version", Integer, doc="the version of the playbook that planned the contact"),
    Index("ix_strategy_contacts_tenant_account", "tenant_id", "account_id", "currency"),
)

# collection pauses (hardship, dispute, legal hold, deceased, bankruptcy): the account is paused
# while one of its rows has ``ended_at`` NULL; ``ends_at`` is local midnight after ``until``
# (NULL: only an explicit resume ends it)
pauses = Table(
    "pauses",
    metadata,
    _tenant(),
    Column("pause_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("until", Date, doc="the last paused day, in the debtor's local date"),
    Column("ends_at", DateTime(timezone=True), doc="when the pause ends by itself (NULL: never)"),
    Column("note", String(1000)),
    Column("agent_id", String(128)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_by", String(16), doc="resumed (an explicit resume) or until (its last day ended)"),
    Column("resumed_by", String(128), doc="the agent who resumed it, when a person did"),
    Index("ix_strategy_pauses_tenant_account", "tenant_id", "account_id", "ended_at"),
)

# the payment plan an (account, currency) is on: while ``active`` its reminders replace dunning
plan_treatments = Table(
    "plan_treatments",
    metadata,
    _tenant(),
    Column("account_id", String(128), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("plan_id", String(128), nullable=False),
    Column("status", String(16), nullable=False, doc="active, broken or completed"),
    Column("since", DateTime(timezone=True), nullable=False),
)

# playbooks as versioned data: every version kept, one active per (tenant, name)
strategy_versions = Table(
    "strategy_versions",
    metadata,
    _tenant(),
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("active", Boolean, nullable=False),
    Index(
        "ix_strategy_versions_tenant_active",
        "tenant_id",
        "name",
        unique=True,
        postgresql_where=text("active"),
    ),
)

# the last direct contact and the last telephone conversation per account (contact.outcome)
contact_history = Table(
    "contact_history",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("account_id", String(128), primary_key=True),
    Column("direct_at", DateTime(timezone=True), doc="the last direct contact (contact.outcome)"),
    Column("direct_channel", String(16)),
    Column("conversation_at", DateTime(timezone=True), doc="the last telephone conversation"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
