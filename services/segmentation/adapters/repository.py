"""Queries over segmentation's tables: account state, histories, rule sets and models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, func, select, tuple_, update
from sqlalchemy.orm import Session

from services.segmentation.adapters.model_artifacts import load_model
from services.segmentation.adapters.orm import (
    accounts,
    aging_history,
    invoices,
    models,
    payments,
    promise_outcomes,
    rule_sets,
)
from services.segmentation.domain.attributes import AccountState
from services.segmentation.domain.profiles import account_state
from services.segmentation.domain.scoring import AccountHistory, AgingPoint, PaymentPoint


def state_from_row(row: Row[Any]) -> AccountState:
    return account_state(row._mapping)


def account_row(session: Session, tenant: str, account_id: str) -> Row[Any] | None:
    stmt = select(accounts).where(accounts.c.tenant_id == tenant, accounts.c.account_id == account_id)
    return session.execute(stmt).first()


def load_histories(
    session: Session, account_ids: Sequence[str] | None, tenant: str
) -> dict[str, AccountHistory]:
    """Histories of the given accounts (or of every account of the tenant), in date order."""
    scope = select(accounts.c.account_id).where(accounts.c.tenant_id == tenant)
    if account_ids is not None:
        scope = scope.where(accounts.c.account_id.in_(account_ids))
    ids = scope.scalar_subquery()
    # amounts and aging in each account's own (deciding) currency, as live scoring reads them
    own = select(accounts.c.account_id, accounts.c.currency).where(accounts.c.tenant_id == tenant)
    if account_ids is not None:
        own = own.where(accounts.c.account_id.in_(account_ids))
    histories: dict[str, AccountHistory] = {}

    def get(account_id: str) -> AccountHistory:
        return histories.setdefault(account_id, AccountHistory(account_id))

    for account_id in session.execute(scope).scalars():
        get(account_id)
    r: Any
    for r in session.execute(
        select(invoices.c.account_id, invoices.c.issued_on, invoices.c.amount)
        .where(
            invoices.c.tenant_id == tenant,
            tuple_(invoices.c.account_id, invoices.c.currency).in_(own),
            invoices.c.cancelled.is_(False),
        )
        .order_by(invoices.c.account_id, invoices.c.issued_on)
    ):
        get(r.account_id).invoices.append((r.issued_on, Decimal(r.amount)))
    for r in session.execute(
        select(payments.c.account_id, payments.c.received_on, payments.c.amount, payments.c.on_time)
        .where(payments.c.tenant_id == tenant, payments.c.account_id.in_(ids), payments.c.reversed.is_(False))
        .order_by(payments.c.account_id, payments.c.received_on, payments.c.payment_id)
    ):
        get(r.account_id).payments.append(PaymentPoint(r.received_on, Decimal(r.amount), r.on_time))
    for r in session.execute(
        select(aging_history)
        .where(
            aging_history.c.tenant_id == tenant,
            tuple_(aging_history.c.account_id, aging_history.c.currency).in_(own),
        )
        .order_by(aging_history.c.account_id, aging_history.c.effective_on, aging_history.c.days_past_due)
    ):
        get(r.account_id).aging.append(
            AgingPoint(r.effective_on, r.bucket, r.days_past_due, Decimal(r.overdue_amount))
        )
    for r in session.execute(
        select(promise_outcomes)
        .where(promise_outcomes.c.tenant_id == tenant, promise_outcomes.c.account_id.in_(ids))
        .order_by(promise_outcomes.c.account_id, promise_outcomes.c.due_on)
    ):
        (get(r.account_id).kept if r.outcome == "kept" else get(r.account_id).broken).append(r.due_on)
    return histories


def active_rule_row(session: Session, tenant: str) -> Row[Any] | None:
    return session.execute(
        select(rule_sets).where(rule_sets.c.tenant_id == tenant, rule_sets.c.active.is_(True))
    ).first()


def active_rule_checksum(session: Session, tenant: str) -> str | None:
    return session.execute(
        select(rule_sets.c.checksum).where(rule_sets.c.tenant_id == tenant, rule_sets.c.active.is_(True))
    ).scalar()


def rule_row(session: Session, tenant: str, version: str) -> Row[Any] | None:
    return session.execute(
        select(rule_sets).where(rule_sets.c.tenant_id == tenant, rule_sets.c.version == version)
    ).first()


def deactivate_rules(session: Session, tenant: str) -> None:
    session.execute(
        update(rule_sets)
        .where(and_(rule_sets.c.tenant_id == tenant, rule_sets.c.active.is_(True)))
        .values(active=False)
    )


_MODEL_CACHE: dict[tuple[str, int], Any] = {}


def active_model(session: Session, tenant: str) -> tuple[int, Any, list[str]] | None:
    """(version, estimator, feature names) of the tenant's active model, loaded once per process."""
    row = session.execute(
        select(models.c.version, models.c.features).where(
            models.c.tenant_id == tenant, models.c.active.is_(True)
        )
    ).first()
    if row is None:
        return None
    key = (tenant, row.version)
    if key not in _MODEL_CACHE:
        artifact = session.execute(
            select(models.c.artifact).where(models.c.tenant_id == tenant, models.c.version == row.version)
        ).scalar_one()
        _MODEL_CACHE[key] = load_model(artifact)
    return row.version, _MODEL_CACHE[key], list(row.features)


def next_model_version(session: Session, tenant: str) -> int:
    current = session.execute(select(func.max(models.c.version)).where(models.c.tenant_id == tenant)).scalar()
    return int(current or 0) + 1


def tenant_account_rows(session: Session, tenant: str) -> Iterable[Row[Any]]:
    return session.execute(
        select(accounts)
        .where(accounts.c.tenant_id == tenant, accounts.c.first_issued_on.is_not(None))
        .order_by(accounts.c.account_id)
    ).all()
