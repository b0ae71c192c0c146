"""strategy's plans API: agree a payment plan, explain it line by line, load the maximum rates.

``POST /v1/accounts/{id}/plans`` publishes ``cobranza.plan.agreed`` through the outbox (the
same event a core system sends; strategy stores it when it consumes it) and answers with the
computed schedule. ``GET /v1/plans/{plan_id}`` evaluates the plan as of today in the debtor's zone.
``PUT /v1/usury-rates`` loads a tenant's certified maximum rates (Colombia: the tasa de usura
certified monthly by Superfinanciera) for the days they cover.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.auth.audit import audit_note
from libs.events.payloads.treatment import AnnualRate, PlanAgreed, PlanFrequency
from libs.events.types import CurrencyCode, Identifier, NonNegativeAmount, PositiveAmount
from libs.runtime.context import ServiceContext
from libs.runtime.http import PrincipalDep, TenantDep
from libs.runtime.observability import correlation_id
from services.strategy.adapters import plans_repository as repo
from services.strategy.domain.plans import DAY_COUNT, MaxRate, PlanState, schedule
from services.strategy.entrypoints import audit_views
from services.strategy.service_layer.plans import state_of

__all__ = ["router"]

AccountId = Annotated[str, Path(min_length=1, max_length=128)]
PlanId = Annotated[str, Path(min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanRequest(_Strict):
    plan_id: Identifier
    currency: CurrencyCode
    amount: PositiveAmount
    down_payment: NonNegativeAmount = Decimal(0)
    instalments: int = Field(ge=1, le=600)
    frequency: PlanFrequency
    first_due_on: date
    agreed_on: date
    financing_rate: AnnualRate | None = None
    late_interest_rate: AnnualRate | None = None
    agent_id: Identifier | None = None


class RateRow(_Strict):
    valid_from: date = Field(alias="from")
    valid_to: date = Field(alias="to")
    rate: AnnualRate
    resolution: str | None = Field(default=None, max_length=200)


class UsuryRates(_Strict):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    rates: list[RateRow] = Field(min_length=1, max_length=240)


def _money(value: Decimal) -> str:
    return format(value, "f")


def _rate(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).normalize(), "f")


def _explain(row: dict[str, Any], state: PlanState) -> dict[str, Any]:
    lines = []
    for line in state.lines:
        overdue = line.unpaid > 0 and line.line.due_on < state.as_of
        lines.append(
            {
                "number": line.line.number,
                "due_on": line.line.due_on.isoformat(),
                "principal": _money(line.line.principal),
                "interest": _money(line.line.interest),
                "amount_due": _money(line.line.amount_due),
                "paid": _money(state.money(line.paid)),
                "paid_on": line.paid_on.isoformat() if line.paid_on else None,
                "late_days": line.late_days,
                "late_interest": _money(state.late_interest(line)),
                "late_interest_paid": _money(state.money(line.late_paid)),
                "rate_applied": _rate(line.rate_applied),
                "capped": line.capped,
                "status": "paid" if line.unpaid == 0 else ("overdue" if overdue else "pending"),
            }
        )
    return {
        "plan_id": row["plan_id"],
        "account_id": row["account_id"],
        "currency": row["currency"],
        "status": row["status"],
        "frequency": row["frequency"],
        "agreed_on": row["agreed_on"].isoformat(),
        "financing_rate": _rate(row["financing_rate"]),
        "late_interest_rate": None
        if row["late_interest_rate"] is None
        else _money(Decimal(row["late_interest_rate"])),
        "late_interest_convention": DAY_COUNT,
        "as_of": state.as_of.isoformat(),
        "lines": lines,
        "totals": {
            "amount_due": _money(sum((x.line.amount_due for x in state.lines), Decimal(0))),
            "paid": _money(state.amount_paid),
            "outstanding": _money(state.outstanding),
            "late_interest": _money(state.late_interest_due),
            "late_interest_paid": _money(state.late_interest_paid),
        },
    }


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["strategy plans"])

    def _states(session: Any, tenant: str, rows: list[dict[str, Any]]) -> dict[str, PlanState]:
        now = ctx.clock.now()
        as_of = {r["plan_id"]: now.astimezone(ZoneInfo(r["timezone"])).date() for r in rows}
        return state_of(session, tenant, rows, ctx.extras, as_of)

    @api.post("/accounts/{account_id}/plans", status_code=202)
    def agree(
        account_id: AccountId, body: PlanRequest, tenant: TenantDep, principal: PrincipalDep, request: Request
    ) -> dict[str, Any]:
        """Agree a payment plan: published as ``cobranza.plan.agreed``; the answer holds its schedule."""
        note = audit_note(request)
        note.object_ids = {"plan_id": body.plan_id}
        note.after = {"requested": body}
        try:
            payload = PlanAgreed(
                account_id=account_id,
                **body.model_dump(exclude={"agent_id"}),
                agent_id=body.agent_id or (principal.subject.strip()[:128] or None),
            )
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc
        with ctx.unit_of_work(correlation_id=correlation_id.get(), tenant=tenant) as uow:
            note.before = {"plans": audit_views.account_plans(uow.session, tenant, account_id)}
            envelope = uow.emit(payload)
        note.after = {"published": {"event_id": envelope.id, **payload.model_dump(mode="json")}}
        terms = repo.terms_of({**payload.model_dump(), "account_id": account_id})
        return {
            "event_id": envelope.id,
            **payload.model_dump(mode="json"),
            "schedule": [
                {
                    "number": x.number,
                    "due_on": x.due_on.isoformat(),
                    "principal": _money(x.principal),
                    "interest": _money(x.interest),
                    "amount_due": _money(x.amount_due),
                }
                for x in schedule(terms)
            ],
        }

    @api.get("/plans/{plan_id}")
    def get_plan(plan_id: PlanId, tenant: TenantDep) -> dict[str, Any]:
        """Every line of the plan explained as of today (debtor's zone), with totals."""
        with ctx.sessions() as session:
            rows = repo.read_plans(session, tenant, [plan_id])
            if not rows:
                raise HTTPException(status_code=404, detail=f"no plan {plan_id!r}")
            return _explain(rows[0], _states(session, tenant, rows)[plan_id])

    @api.get("/accounts/{account_id}/plans")
    def account_plans(account_id: AccountId, tenant: TenantDep) -> list[dict[str, Any]]:
        """The account's plans, oldest first, each explained as ``GET /v1/plans/{plan_id}`` does."""
        with ctx.sessions() as session:
            rows = repo.plans_of_account(session, tenant, account_id)
            states = _states(session, tenant, rows)
            return [_explain(r, states[r["plan_id"]]) for r in rows]

    @api.put("/usury-rates")
    def put_usury_rates(
        body: UsuryRates, tenant: TenantDep, principal: PrincipalDep, request: Request
    ) -> dict[str, Any]:
        """Load maximum rates (annual effective fractions) for a country; a month reloaded replaces its row."""
        note = audit_note(request)
        note.object_ids = {"country": body.country}
        note.after = {"requested": body.model_dump(mode="json", by_alias=True)}
        for i, r in enumerate(body.rates):
            if r.valid_to < r.valid_from:
                raise RequestValidationError(
                    [
                        {
                            "type": "value_error",
                            "loc": ("body", "rates", i, "to"),
                            "msg": "to is before from",
                            "input": str(r.valid_to),
                        }
                    ]
                )
        rows = [MaxRate(r.valid_from, r.valid_to, r.rate, r.resolution) for r in body.rates]
        with ctx.unit_of_work(tenant=tenant) as uow:
            note.before = {
                "rates": audit_views.stored_rates(
                    uow.session, tenant, body.country, [r.valid_from for r in rows]
                )
            }
            repo.put_max_rates(
                uow.session, tenant, body.country, rows, principal.subject[:128] or None, uow.now()
            )
        answer = {"country": body.country, "loaded": len(rows)}
        note.after = {**answer, "rates": body.model_dump(mode="json", by_alias=True)["rates"]}
        return answer

    return api
