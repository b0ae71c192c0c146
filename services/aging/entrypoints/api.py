"""aging's read API: an account's delinquency state, bucket transitions (roll-rate inputs), the scheme.

Every route answers for the request's tenant (``TenantDep``): another tenant's account is a 404.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from libs.events.types import Identifier
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.aging.adapters.orm import account_state, bucket_transitions, invoices
from services.aging.config import scheme_for
from services.aging.domain.rules import in_grace, invoice_dpd, local_date

AccountId = Annotated[Identifier, Path(description="the account, as the tenant's core system names it")]


class InvoiceView(BaseModel):
    invoice_id: str
    currency: str
    amount: Decimal
    open_amount: Decimal
    due_on: date
    days_past_due: int
    status: str
    product_line: str
    policy_number: str | None
    grace_days: int | None
    in_grace: bool
    lapse_on: date | None
    lapse_state: str | None


class StateView(BaseModel):
    currency: str
    bucket: str
    stage: str
    days_past_due: int
    overdue_amount: Decimal
    bucket_since: date
    timezone: str


class AccountView(BaseModel):
    account_id: str
    as_of: date
    states: list[StateView]
    invoices: list[InvoiceView]


class TransitionView(BaseModel):
    account_id: str
    currency: str
    from_bucket: str
    to_bucket: str
    transitioned_on: date
    days_past_due: int
    overdue_amount: Decimal


class BucketView(BaseModel):
    name: str
    min_dpd: int
    max_dpd: int | None
    stage: str


class SchemeView(BaseModel):
    tenant: str
    buckets: list[BucketView]
    grace_days: dict[str, int]


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["aging"])

    @api.get("/accounts/{account_id}")
    def get_account(account_id: AccountId, tenant: TenantDep) -> AccountView:
        """The account's state per currency and its invoices with DPD as of now, in the debtor's calendar."""
        scheme = scheme_for(ctx.extras, tenant)
        now = ctx.clock.now()
        with ctx.sessions() as session:
            states = session.execute(
                select(account_state)
                .where(account_state.c.tenant_id == tenant, account_state.c.account_id == account_id)
                .order_by(account_state.c.currency)
            ).all()
            rows = session.execute(
                select(invoices)
                .where(invoices.c.tenant_id == tenant, invoices.c.account_id == account_id)
                .order_by(invoices.c.due_on, invoices.c.invoice_id)
            ).all()
        if not states:
            raise HTTPException(status_code=404, detail=f"account {account_id!r} is unknown to aging")
        views = []
        for row in rows:
            today = local_date(now, row.timezone)
            open_amount = row.open_amount if row.status == "open" else Decimal(0)
            views.append(
                InvoiceView(
                    invoice_id=row.invoice_id,
                    currency=row.currency,
                    amount=row.amount,
                    open_amount=row.open_amount,
                    due_on=row.due_on,
                    days_past_due=invoice_dpd(row.due_on, today, open_amount),
                    status=row.status,
                    product_line=row.product_line,
                    policy_number=row.policy_number,
                    grace_days=row.grace_days,
                    in_grace=open_amount > 0 and in_grace(row.due_on, today, row.grace_days),
                    lapse_on=row.lapse_on,
                    lapse_state=row.lapse_state,
                )
            )
        stages = {b.name: b.stage for b in scheme.buckets}
        return AccountView(
            account_id=account_id,
            as_of=local_date(now, states[0].timezone),
            states=[
                StateView(
                    currency=s.currency,
                    bucket=s.bucket,
                    stage=stages.get(s.bucket, "unknown"),
                    days_past_due=s.dpd,
                    overdue_amount=s.overdue_amount,
                    bucket_since=s.bucket_since,
                    timezone=s.timezone,
                )
                for s in states
            ],
            invoices=views,
        )

    @api.get("/transitions")
    def get_transitions(
        tenant: TenantDep,
        from_: Annotated[date, Query(alias="from", description="first local date, inclusive")],
        to: Annotated[date, Query(description="last local date, inclusive")],
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[TransitionView]:
        """Bucket transitions whose local date falls in [from, to]: inputs for roll-rate matrices."""
        if to < from_:
            raise HTTPException(
                status_code=422,
                detail=[{"loc": ["query", "to"], "msg": "must not be before from", "type": "value_error"}],
            )
        t = bucket_transitions
        with ctx.sessions() as session:
            rows = session.execute(
                select(t)
                .where(t.c.tenant_id == tenant, t.c.transitioned_on >= from_, t.c.transitioned_on <= to)
                .order_by(t.c.transitioned_on, t.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [
            TransitionView(
                account_id=r.account_id,
                currency=r.currency,
                from_bucket=r.from_bucket,
                to_bucket=r.to_bucket,
                transitioned_on=r.transitioned_on,
                days_past_due=r.dpd,
                overdue_amount=r.overdue_amount,
            )
            for r in rows
        ]

    @api.get("/buckets")
    def get_buckets(tenant: TenantDep) -> SchemeView:
        scheme = scheme_for(ctx.extras, tenant)
        return SchemeView(
            tenant=tenant,
            buckets=[
                BucketView(name=b.name, min_dpd=b.min_dpd, max_dpd=b.max_dpd, stage=b.stage)
                for b in scheme.buckets
            ],
            grace_days=dict(scheme.grace_days),
        )

    return api
