"""Read models for the API and the dashboard, always within one tenant and split by currency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.reporting.adapters.orm import (
    v_account_balances,
    v_contacts_by_channel,
    v_payments_received,
    v_promise_kept_rate,
    v_suspense,
)

DIMENSIONS = ("bucket", "stage", "product_line", "advisor_id", "office_id", "agency_id")
"""What the portfolio groups by: altura de mora (bucket, stage), ramo, asesor, oficina, agencia."""


def portfolio(session: Session, tenant: str, group_by: list[str]) -> list[dict[str, Any]]:
    """Accounts, open amount, credit and balance per group and currency (balances never mix)."""
    v = v_account_balances
    columns = [v.c[name] for name in group_by] + [v.c.currency]
    query = (
        select(
            *columns,
            func.count().label("accounts"),
            func.sum(v.c.open_amount).label("open_amount"),
            func.sum(v.c.credit_balance).label("credit_balance"),
            func.sum(v.c.balance).label("balance"),
        )
        .where(v.c.tenant_id == tenant)
        .group_by(*columns)
        .order_by(*(c.asc().nulls_first() for c in columns))
    )
    return [dict(r) for r in session.execute(query).mappings()]


def account_balances(session: Session, tenant: str, account_id: str) -> list[dict[str, Any]] | None:
    """One row per currency of the account; None when the tenant has no such account."""
    v = v_account_balances
    rows = session.execute(
        select(v).where(v.c.tenant_id == tenant, v.c.account_id == account_id).order_by(v.c.currency)
    ).mappings()
    found = [{k: val for k, val in r.items() if k != "tenant_id"} for r in rows]
    return found or None


def suspense(session: Session, tenant: str) -> list[dict[str, Any]]:
    """Payments no account could be found for yet, per currency (money received, not applied)."""
    v = v_suspense
    rows = session.execute(
        select(v.c.currency, v.c.payments, v.c.amount).where(v.c.tenant_id == tenant).order_by(v.c.currency)
    ).mappings()
    return [dict(r) for r in rows]


def payments_received(session: Session, tenant: str) -> list[dict[str, Any]]:
    """What banks and core systems reported as received, per currency: a KPI, not money applied."""
    v = v_payments_received
    rows = session.execute(
        select(v.c.currency, v.c.payments, v.c.amount, v.c.reversed_payments, v.c.reversed_amount)
        .where(v.c.tenant_id == tenant)
        .order_by(v.c.currency)
    ).mappings()
    return [dict(r) for r in rows]


def promise_kpis(session: Session, tenant: str) -> dict[str, Any]:
    v = v_promise_kept_rate
    row = (
        session.execute(
            select(v.c.made, v.c.kept, v.c.broken, v.c.open, v.c.kept_rate).where(v.c.tenant_id == tenant)
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return {"made": 0, "kept": 0, "broken": 0, "open": 0, "kept_rate": None}
    return dict(row)


def contact_kpis(session: Session, tenant: str) -> list[dict[str, Any]]:
    v = v_contacts_by_channel
    rows = session.execute(
        select(v.c.channel, v.c.status, v.c.contacts)
        .where(v.c.tenant_id == tenant)
        .order_by(v.c.channel, v.c.status)
    ).mappings()
    return [dict(r) for r in rows]
