"""segmentation's REST API: an account's segment, segment totals, what-if previews, rule activation.

Every route answers for the request's tenant (``TenantDep``): another tenant's account is a 404
and a rule activation changes only that tenant's accounts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request, status
from sqlalchemy import func, select

from libs.auth.audit import audit_note
from libs.events.types import Identifier
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.segmentation.adapters import repository as repo
from services.segmentation.adapters.orm import accounts, models, segment_history
from services.segmentation.domain.rules import RuleSet, RuleSetError, parse_rules
from services.segmentation.entrypoints.audit_views import active_rules
from services.segmentation.service_layer.commands import RuleVersionConflict, activate_rules, preview_rules

RulesDocument = Annotated[dict[str, Any], Body(description="a rules document (see docs/segmentation.md)")]
AccountId = Annotated[Identifier, Path(description="the account, as the tenant's core system names it")]


def _parse_or_422(document: dict[str, Any]) -> RuleSet:
    try:
        return parse_rules(document)
    except RuleSetError as exc:
        raise HTTPException(
            422,
            detail=[{"loc": ["body", *p.split(":", 1)[:1]], "msg": p} for p in exc.problems],
        ) from exc


def _money(value: Any) -> str | None:
    return None if value is None else format(Decimal(value), "f")


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["segmentation"])

    @api.get("/accounts/{account_id}/segment")
    def account_segment(account_id: AccountId, tenant: TenantDep) -> dict[str, Any]:
        with ctx.sessions() as session:
            row = repo.account_row(session, tenant, account_id)
            if row is None or row.segment is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"account {account_id} has no segment")
            history = session.execute(
                select(segment_history)
                .where(segment_history.c.tenant_id == tenant, segment_history.c.account_id == account_id)
                .order_by(segment_history.c.id.desc())
                .limit(50)
            ).all()
        reason = (row.reasons or [{}])[0]
        attributes = reason.get("attributes", {})
        return {
            "account_id": account_id,
            "segment": row.segment,
            "rule": row.segment_rule,
            "rules_version": row.rules_version,
            "reasons": row.reasons,
            "score": float(row.score) if row.score is not None else None,
            "score_source": row.score_source,
            "score_band": attributes.get("score_band"),
            "expected_recovery": attributes.get("expected_recovery"),
            "best_channel": attributes.get("best_channel"),
            "overdue_balance": _money(row.overdue_balance),
            "total_balance": _money(row.total_balance),
            "currency": row.currency,
            "segmented_at": row.segmented_at,
            "history": [
                {
                    "segment": h.segment,
                    "previous_segment": h.previous_segment,
                    "rule": h.rule,
                    "rules_version": h.rules_version,
                    "changed_at": h.changed_at,
                }
                for h in history
            ],
        }

    @api.get("/segments")
    def segments(tenant: TenantDep) -> dict[str, Any]:
        with ctx.sessions() as session:
            rows = session.execute(
                select(
                    accounts.c.segment,
                    accounts.c.currency,
                    func.count().label("accounts"),
                    func.sum(accounts.c.overdue_balance).label("overdue"),
                    func.sum(accounts.c.total_balance).label("total"),
                )
                .where(accounts.c.tenant_id == tenant, accounts.c.segment.is_not(None))
                .group_by(accounts.c.segment, accounts.c.currency)
                .order_by(accounts.c.segment, accounts.c.currency)
            ).all()
            active = repo.active_rule_row(session, tenant)
        return {
            "rules_version": active.version if active else None,
            "segments": [
                {
                    "segment": r.segment,
                    "currency": r.currency,
                    "accounts": r.accounts,
                    "overdue_balance": _money(r.overdue),
                    "total_balance": _money(r.total),
                }
                for r in rows
            ],
        }

    @api.post("/segments/preview")
    def preview(document: RulesDocument, tenant: TenantDep) -> dict[str, Any]:
        candidate = _parse_or_422(document)
        with ctx.sessions() as session:
            matrix = preview_rules(session, tenant, candidate, ctx.clock.now())
        totals = matrix.totals()
        return {
            "version": candidate.version,
            "matrix": matrix.as_rows(),
            "moving": {
                "accounts": totals.accounts,
                "overdue_balance": format(totals.overdue_balance, "f"),
                "total_balance": format(totals.total_balance, "f"),
            },
        }

    @api.get("/rules")
    def current_rules(tenant: TenantDep) -> dict[str, Any]:
        with ctx.sessions() as session:
            row = repo.active_rule_row(session, tenant)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no rule set has been activated yet")
        return {"version": row.version, "activated_at": row.activated_at, "document": row.document}

    @api.put("/rules")
    def activate(document: RulesDocument, tenant: TenantDep, request: Request) -> dict[str, Any]:
        note = audit_note(request)
        note.after = {"requested": document}
        rules = _parse_or_422(document)
        note.object_ids = {"rules_version": rules.version}
        try:
            with ctx.unit_of_work(tenant=tenant) as uow:
                note.before = active_rules(uow.session, tenant)
                result = activate_rules(uow, rules, source="api")
        except RuleVersionConflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        answer = {
            "version": result.version,
            "accounts": result.accounts,
            "moved": result.moved,
            "already_active": result.already_active,
        }
        note.after = {**answer, "document": document}
        return answer

    @api.get("/models")
    def list_models(tenant: TenantDep) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            rows = session.execute(
                select(
                    models.c.version,
                    models.c.trained_at,
                    models.c.auc,
                    models.c.features,
                    models.c.label,
                    models.c.n_train,
                    models.c.n_test,
                    models.c.active,
                )
                .where(models.c.tenant_id == tenant)
                .order_by(models.c.version.desc())
            ).all()
        return [dict(r._mapping) for r in rows]

    return api
