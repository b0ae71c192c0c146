"""Read-only views for the audit log's ``before``: the state an agent's or supervisor's command changes.

One query each, run in the route (the command's own transaction) before the command.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.strategy.adapters import plans_repository
from services.strategy.adapters.orm import pauses, promises, strategy_versions
from services.strategy.adapters.plans_orm import max_rates


def open_promises(session: Session, tenant: str, account_id: str) -> list[dict[str, Any]]:
    """The account's open promises (what a new promise joins)."""
    rows = session.execute(
        select(
            promises.c.promise_id,
            promises.c.amount,
            promises.c.paid_amount,
            promises.c.currency,
            promises.c.due_on,
            promises.c.status,
        )
        .where(
            promises.c.tenant_id == tenant, promises.c.account_id == account_id, promises.c.status == "open"
        )
        .order_by(promises.c.due_on, promises.c.promise_id)
    ).mappings()
    return [dict(r) for r in rows]


def pauses_in_force(session: Session, tenant: str, account_id: str, now: datetime) -> list[dict[str, Any]]:
    """The account's pauses holding collection at NOW (what a pause adds to, what a resume ends)."""
    rows = session.execute(
        select(
            pauses.c.pause_id,
            pauses.c.reason,
            pauses.c.until,
            pauses.c.ends_at,
            pauses.c.started_at,
            pauses.c.agent_id,
        )
        .where(
            pauses.c.tenant_id == tenant,
            pauses.c.account_id == account_id,
            pauses.c.ended_at.is_(None),
            or_(pauses.c.ends_at.is_(None), pauses.c.ends_at > now),
        )
        .order_by(pauses.c.started_at, pauses.c.pause_id)
    ).mappings()
    return [dict(r) for r in rows]


_PLAN_FIELDS = ("plan_id", "currency", "amount", "instalments", "frequency", "agreed_on", "status")


def account_plans(session: Session, tenant: str, account_id: str) -> list[dict[str, Any]]:
    """The account's payment plans and their state (what a new plan is agreed next to): the
    repository's read of them, with the fields the audit keeps."""
    return [
        {k: row[k] for k in _PLAN_FIELDS}
        for row in plans_repository.plans_of_account(session, tenant, account_id)
    ]


def stored_rates(
    session: Session, tenant: str, country: str, starts: Collection[date]
) -> list[dict[str, Any]]:
    """The country's stored maximum rates for the periods a load replaces (same start day)."""
    rows = session.execute(
        select(
            max_rates.c.valid_from,
            max_rates.c.valid_to,
            max_rates.c.rate,
            max_rates.c.resolution,
            max_rates.c.loaded_by,
            max_rates.c.loaded_at,
        )
        .where(
            max_rates.c.tenant_id == tenant,
            max_rates.c.country == country,
            max_rates.c.valid_from.in_(sorted(set(starts))),
        )
        .order_by(max_rates.c.valid_from)
    ).mappings()
    return [dict(r) for r in rows]


def active_strategy(session: Session, tenant: str, name: str) -> dict[str, Any] | None:
    """The playbook's active version (what a new version replaces); None for a new playbook."""
    row = (
        session.execute(
            select(
                strategy_versions.c.name,
                strategy_versions.c.version,
                strategy_versions.c.document,
                strategy_versions.c.created_at,
                strategy_versions.c.created_by,
            ).where(
                strategy_versions.c.tenant_id == tenant,
                strategy_versions.c.name == name,
                strategy_versions.c.active,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)
