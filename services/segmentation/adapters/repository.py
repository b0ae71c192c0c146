"""Queries over segmentation's tables: account state, histories, rule sets and models."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import joblib
from sqlalchemy import Row, and_, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.segmentation.adapters.orm import (
    accounts,
    aging_history,
    early_open_amounts,
    invoices,
    models,
    payments,
    promise_outcomes,
    rule_sets,
)
from services.segmentation.domain.attributes import AccountState
from services.segmentation.domain.scoring import AccountHistory, AgingPoint, PaymentPoint


def local_today(now: datetime, timezone: str | None) -> date:
    return now.astimezone(ZoneInfo(timezone or "America/Bogota")).date()


def state_from_row(row: Row[Any] | Any) -> AccountState:
    return AccountState(
        account_id=row.account_id,
        currency=row.currency,
        total_balance=Decimal(row.total_balance),
        overdue_balance=Decimal(row.overdue_balance),
        bucket=row.bucket,
        stage=row.stage,
        days_past_due=row.days_past_due,
        aged_on=row.aged_on,
        product_line=row.product_line,
        country=row.country,
        region=row.region,
        advisor_id=row.advisor_id,
        office_id=row.office_id,
        agency_id=row.agency_id,
        customer_kind=row.customer_kind,
        broken_promises=row.broken_promises,
        kept_promises=row.kept_promises,
        last_payment_on=row.last_payment_on,
        first_issued_on=row.first_issued_on,
        score=float(row.score) if row.score is not None else None,
    )


def account_row(session: Session, tenant: str, account_id: str, *, lock: bool = False) -> Row[Any] | None:
    stmt = select(accounts).where(accounts.c.tenant_id == tenant, accounts.c.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).first()


def refresh_aggregates(session: Session, tenant: str, account_id: str) -> None:
    """Recompute the account's balances and counters from its stored facts (one statement).

    The balance is reconciliation's: each invoice's open amount as its last
    allocation set it (its amount while none arrived) minus the account's
    credit, never floored (credit shows as a negative balance). Balances count
    money in the account's currency only (its first currency); facts in other
    currencies are stored but not added to it.
    """
    currency = (
        select(accounts.c.currency)
        .where(accounts.c.tenant_id == tenant, accounts.c.account_id == account_id)
        .scalar_subquery()
    )
    owed = (
        select(func.coalesce(func.sum(func.coalesce(invoices.c.open_amount, invoices.c.amount)), 0))
        .where(
            invoices.c.tenant_id == tenant,
            invoices.c.account_id == account_id,
            invoices.c.cancelled.is_(False),
            invoices.c.currency == currency,
        )
        .scalar_subquery()
    )
    last_paid = (
        select(func.max(payments.c.received_on))
        .where(
            payments.c.tenant_id == tenant,
            payments.c.account_id == account_id,
            payments.c.reversed.is_(False),
        )
        .scalar_subquery()
    )
    first_issued = (
        select(func.min(invoices.c.issued_on))
        .where(
            invoices.c.tenant_id == tenant,
            invoices.c.account_id == account_id,
            invoices.c.cancelled.is_(False),
        )
        .scalar_subquery()
    )

    def promises(outcome: str) -> Any:
        return (
            select(func.count())
            .where(
                promise_outcomes.c.tenant_id == tenant,
                promise_outcomes.c.account_id == account_id,
                promise_outcomes.c.outcome == outcome,
            )
            .scalar_subquery()
        )

    session.execute(
        update(accounts)
        .where(accounts.c.tenant_id == tenant, accounts.c.account_id == account_id)
        .values(
            total_balance=owed - accounts.c.credit_balance,
            last_payment_on=last_paid,
            first_issued_on=first_issued,
            broken_promises=promises("broken"),
            kept_promises=promises("kept"),
        )
    )


_SET_OPEN_AMOUNTS = text(
    """
    UPDATE segmentation.invoices i
       SET open_amount = c.open_after
      FROM unnest(CAST(:invoice_ids AS text[]), CAST(:open_after AS numeric[])) AS c(invoice_id, open_after)
     WHERE i.tenant_id = :tenant AND i.invoice_id = c.invoice_id
    RETURNING i.invoice_id, i.account_id
    """
)


def set_open_amounts(
    session: Session, tenant: str, changes: Sequence[tuple[str, Decimal]], now: datetime
) -> set[str]:
    """Set invoices' open amounts as reconciliation computed them; returns the accounts touched.

    Invoices not issued here yet keep theirs in ``early_open_amounts`` until
    ``invoice.issued`` arrives (the latest allocation wins).
    """
    latest = dict(changes)
    if not latest:
        return set()
    found = session.execute(
        _SET_OPEN_AMOUNTS,
        {"tenant": tenant, "invoice_ids": list(latest), "open_after": list(latest.values())},
    ).all()
    known = {row.invoice_id for row in found}
    early = [
        {"tenant_id": tenant, "invoice_id": invoice_id, "open_amount": amount, "received_at": now}
        for invoice_id, amount in latest.items()
        if invoice_id not in known
    ]
    if early:
        stmt = pg_insert(early_open_amounts).values(early)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "invoice_id"],
                set_={"open_amount": stmt.excluded.open_amount, "received_at": stmt.excluded.received_at},
            )
        )
    return {row.account_id for row in found}


def take_early_open_amount(session: Session, tenant: str, invoice_id: str) -> Decimal | None:
    """The open amount an allocation set before the invoice arrived, removed from the waiting list."""
    value: Decimal | None = session.execute(
        delete(early_open_amounts)
        .where(early_open_amounts.c.tenant_id == tenant, early_open_amounts.c.invoice_id == invoice_id)
        .returning(early_open_amounts.c.open_amount)
    ).scalar()
    return value


def load_histories(
    session: Session, account_ids: Sequence[str] | None, tenant: str
) -> dict[str, AccountHistory]:
    """Histories of the given accounts (or of every account of the tenant), in date order."""
    scope = select(accounts.c.account_id).where(accounts.c.tenant_id == tenant)
    if account_ids is not None:
        scope = scope.where(accounts.c.account_id.in_(account_ids))
    ids = scope.scalar_subquery()
    histories: dict[str, AccountHistory] = {}

    def get(account_id: str) -> AccountHistory:
        return histories.setdefault(account_id, AccountHistory(account_id))

    for account_id in session.execute(scope).scalars():
        get(account_id)
    r: Any
    for r in session.execute(
        select(invoices.c.account_id, invoices.c.issued_on, invoices.c.amount)
        .where(
            invoices.c.tenant_id == tenant, invoices.c.account_id.in_(ids), invoices.c.cancelled.is_(False)
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
        .where(aging_history.c.tenant_id == tenant, aging_history.c.account_id.in_(ids))
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
        _MODEL_CACHE[key] = joblib.load(io.BytesIO(artifact))
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
