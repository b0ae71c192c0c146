"""strategy's read API: an account's promises (with the payments counted toward each) and contact plan.

Scoped by the request's tenant: another tenant's account answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select
from sqlalchemy.orm import Session

from libs.events.types import Identifier
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.strategy.adapters.orm import accounts, contacts, promise_payments, promises

AccountId = Annotated[Identifier, Path(description="the tenant's account id")]


def _known(session: Session, tenant: str, account_id: str) -> None:
    found = session.execute(
        select(accounts.c.account_id).where(
            accounts.c.tenant_id == tenant, accounts.c.account_id == account_id
        )
    ).first()
    if found is None:
        raise HTTPException(status_code=404, detail=f"no account {account_id!r}")


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["strategy"])

    @api.get("/accounts/{account_id}/promises")
    def account_promises(account_id: AccountId, tenant: TenantDep) -> list[dict[str, Any]]:
        """Promises with the amount paid toward each (partial fulfilment) and the payments counted."""
        with ctx.sessions() as session:
            _known(session, tenant, account_id)
            rows = session.execute(
                select(promises)
                .where(promises.c.tenant_id == tenant, promises.c.account_id == account_id)
                .order_by(promises.c.made_on, promises.c.promise_id)
            ).mappings()
            found = [dict(r) for r in rows]
            counted: dict[str, list[dict[str, Any]]] = {p["promise_id"]: [] for p in found}
            for c in session.execute(
                select(
                    promise_payments.c.promise_id, promise_payments.c.payment_id, promise_payments.c.amount
                )
                .where(
                    promise_payments.c.tenant_id == tenant,
                    promise_payments.c.promise_id.in_(sorted(counted)),
                )
                .order_by(promise_payments.c.promise_id, promise_payments.c.payment_id)
            ):
                counted[c.promise_id].append({"payment_id": c.payment_id, "amount": c.amount})
            return [{**p, "payments": counted[p["promise_id"]]} for p in found]

    @api.get("/accounts/{account_id}/contacts")
    def account_contacts(account_id: AccountId, tenant: TenantDep) -> list[dict[str, Any]]:
        """The contact plan per currency: planned, due, skipped or cancelled, with the reason."""
        with ctx.sessions() as session:
            _known(session, tenant, account_id)
            rows = session.execute(
                select(contacts)
                .where(contacts.c.tenant_id == tenant, contacts.c.account_id == account_id)
                .order_by(contacts.c.planned_for, contacts.c.contact_id)
            ).mappings()
            return [dict(r) for r in rows]

    return api
