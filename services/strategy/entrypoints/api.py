"""strategy's read API: an account's promises and contact plan."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from libs.runtime.context import ServiceContext
from services.strategy.adapters.orm import contacts, promises


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["strategy"])

    @api.get("/accounts/{account_id}/promises")
    def account_promises(account_id: str) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            rows = session.execute(
                select(promises).where(promises.c.account_id == account_id).order_by(promises.c.made_on)
            ).mappings()
            return [dict(r) for r in rows]

    @api.get("/accounts/{account_id}/contacts")
    def account_contacts(account_id: str) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            rows = session.execute(
                select(contacts).where(contacts.c.account_id == account_id).order_by(contacts.c.planned_for)
            ).mappings()
            return [dict(r) for r in rows]

    return api
