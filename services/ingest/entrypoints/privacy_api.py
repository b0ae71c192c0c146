"""``POST /v1/customers/{customer_id}/erase`` (admin): the habeas data erasure over HTTP.

The same service function as ``cobranza privacy erase`` (``service_layer/privacy.py``), in one
unit of work: tombstone, ingest's own erasure and ``cobranza.customer.erased`` in the outbox. Over
HTTP ingest sees only its own schema, so ``account_ids`` are the accounts ingest's records name
(the customer's upserts, the invoices it forwarded); strategy and reconciliation widen them by the
customer id on their side. The CLI also reads every service's tables for accounts only they know.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from libs.auth.audit import audit_note
from libs.events.types import Identifier
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.ingest.service_layer.privacy import erase, known_customer

CustomerId = Annotated[Identifier, PathParam(description="the canonical customer id")]


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500, description="why (kept in the tombstone)")


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.post("/customers/{customer_id}/erase", tags=["privacy"])
    def erase_customer(
        customer_id: CustomerId, tenant: TenantDep, request: Request, body: EraseIn | None = None
    ) -> dict[str, Any]:
        """Erase the customer's personal data in every service (habeas data, Ley 1581 de 2012); money
        facts stay. 404 for a customer the tenant never had; erasing again is harmless (200)."""
        note = audit_note(request)
        note.object_ids = {"customer_id": customer_id}
        with ctx.unit_of_work(tenant=tenant) as uow:
            known = known_customer(uow, customer_id)
            if known is None:
                raise HTTPException(404, detail=f"no customer {customer_id!r}")
            note.before = {
                "customer_ids": known.customer_ids,
                "accounts": len(known.account_ids),
                "already_erased_at": known.erased_at,
            }
            done = erase(uow, known, known.account_ids, reason=body.reason if body else None)
        note.after = {"event_id": done.event_id, "ingest": done.changed}
        return {
            "customer_id": customer_id,
            "customer_ids": known.customer_ids,
            "account_ids": known.account_ids,
            "already_erased_at": known.erased_at.isoformat() if known.erased_at else None,
            "event_id": done.event_id,
            "ingest": done.changed,
        }

    return api


__all__ = ["EraseIn", "router"]
