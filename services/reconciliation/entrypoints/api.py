"""reconciliation's REST API: suspense queue, manual application (audited), audit trail, statements."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from libs.auth.audit import audit_note
from libs.events.types import Identifier, Text
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.reconciliation.entrypoints.audit_views import suspense_before
from services.reconciliation.service_layer import queries
from services.reconciliation.service_layer.commands import ApplySuspense, CommandRejected, apply_suspense

ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
"""An id in a path or query: bounded, no NUL or other control characters (422, never a 500)."""


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_id: Identifier
    invoice_id: Identifier | None = None
    reason: Text = Field(min_length=3, max_length=1000, description="why: shown in the audit trail")
    user: Text = Field(min_length=1, max_length=128, description="who applied it")


Limit = Annotated[int, Query(ge=1, le=1000)]
PathId = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]
QueryId = Annotated[str | None, Query(min_length=1, max_length=128, pattern=ID_PATTERN)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]


def _rejected(exc: CommandRejected) -> JSONResponse:
    if exc.status == 422:
        body: Any = {"detail": [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]}
    else:
        body = {"detail": exc.message}
    return JSONResponse(status_code=exc.status, content=body)


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["reconciliation"])

    @api.get("/suspense")
    def list_suspense(tenant: TenantDep, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            return queries.suspense(session, tenant, limit, offset)

    @api.get("/suspense/{payment_id}/candidates")
    def suspense_candidates(
        payment_id: PathId, tenant: TenantDep, limit: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            found = queries.suspense_candidates(session, tenant, payment_id, limit)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no payment {payment_id!r} in suspense")
        return [asdict(c) for c in found]

    @api.post("/suspense/{payment_id}/apply", response_model=None)
    def apply(
        payment_id: PathId, body: ApplyRequest, tenant: TenantDep, request: Request
    ) -> dict[str, Any] | JSONResponse:
        note = audit_note(request)
        note.object_ids = {"payment_id": payment_id, "account_id": body.account_id}
        if body.invoice_id is not None:
            note.object_ids["invoice_id"] = body.invoice_id
        try:
            with ctx.unit_of_work(tenant=tenant) as uow:
                note.before = suspense_before(uow.session, tenant, payment_id, body.account_id)
                application = apply_suspense(
                    ApplySuspense(payment_id, body.account_id, body.invoice_id, body.reason, body.user), uow
                )
        except CommandRejected as exc:
            return _rejected(exc)
        answer = {
            "payment_id": application.payment_id,
            "account_id": application.account_id,
            "currency": application.currency,
            "rule": application.rule,
            "allocations": [
                {
                    "invoice_id": a.invoice_id,
                    "amount": format(a.amount, "f"),
                    "invoice_open_amount_after": format(a.open_after, "f"),
                }
                for a in application.allocations
            ],
            "credit_created": format(application.credit_created, "f"),
        }
        note.after = {**answer, "reason": body.reason, "user": body.user}
        return answer

    @api.get("/audit")
    def audit_trail(
        tenant: TenantDep, payment_id: QueryId = None, limit: Limit = 100, offset: Offset = 0
    ) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            return queries.audit_trail(session, tenant, payment_id=payment_id, limit=limit, offset=offset)

    @api.get("/accounts/{account_id}/statement")
    def statement(account_id: PathId, tenant: TenantDep) -> dict[str, Any]:
        with ctx.sessions() as session:
            found = queries.statement(session, tenant, account_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"unknown account {account_id!r}")
        return found

    return api
