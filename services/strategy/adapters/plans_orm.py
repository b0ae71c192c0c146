"""Payment plans' tables (schema ``strategy``, on strategy's ``metadata``): every key starts with the tenant.

The schedule is not stored: it is a pure function of the terms (``domain/plans.py``), so the
API and the timers recompute it and can never disagree with a stored copy.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Identity, Index, Integer, Numeric, String, Table

from services.strategy.adapters.orm import metadata

__all__ = ["max_rates", "plan_payments", "plans"]

plans = Table(
    "plans",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("plan_id", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("down_payment", Numeric(18, 4), nullable=False),
    Column("instalments", Integer, nullable=False),
    Column("frequency", String(16), nullable=False),
    Column("first_due_on", Date, nullable=False),
    Column("agreed_on", Date, nullable=False),
    Column("financing_rate", Numeric(12, 8)),
    Column("late_interest_rate", Numeric(12, 8)),
    Column("agent_id", String(128)),
    Column("country", String(2), doc="whose maximum rate caps the late interest"),
    Column("timezone", String(64), nullable=False, doc="the debtor's zone when the plan was agreed"),
    Column("status", String(16), nullable=False, doc="active, broken or completed"),
    Column("resolved_on", Date),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_strategy_plans_tenant_account", "tenant_id", "account_id", "currency"),
)

# what reconciliation applied to a plan's (account, currency) after it was agreed, and its
# reversal as a row of its own (kind ``reversal``); ``seq`` keeps the order they arrived in
plan_payments = Table(
    "plan_payments",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("plan_id", String(128), primary_key=True),
    Column("payment_id", String(128), primary_key=True),
    Column("kind", String(16), primary_key=True, doc="payment or reversal"),
    Column("seq", BigInteger, Identity(always=False), nullable=False),
    Column("on", Date, nullable=False, doc="applied_on or reversed_on"),
    Column("amount", Numeric(18, 4), nullable=False),
)

# the maximum annual effective rate per tenant and country (Colombia: the tasa de usura)
max_rates = Table(
    "max_rates",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("country", String(2), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("valid_to", Date, nullable=False),
    Column("rate", Numeric(12, 8), nullable=False),
    Column("resolution", String(200)),
    Column("loaded_by", String(128)),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)
