"""reporting's API: portfolio by dimension, balances, suspense, KPIs and an HTML dashboard.

Every route reads one tenant's data (``TenantDep``); another tenant's account answers 404.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from libs.events.types import Identifier
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.reporting.service_layer import queries
from services.reporting.service_layer.queries import DIMENSIONS

AccountId = Annotated[Identifier, Path(description="the tenant's account id")]
GroupBy = Annotated[str, Query(max_length=200, description=f"comma-separated: {', '.join(DIMENSIONS)}")]

_templates = Environment(
    loader=FileSystemLoader(FilePath(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(default=True),
)


def parse_group_by(raw: str) -> list[str]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown or not names:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["query", "group_by"],
                    "msg": f"unknown dimension(s) {unknown}; use any of {', '.join(DIMENSIONS)}",
                    "type": "value_error",
                }
            ],
        )
    return list(dict.fromkeys(names))


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["reporting"])

    @api.get("/v1/portfolio")
    def get_portfolio(tenant: TenantDep, group_by: GroupBy = "bucket") -> dict[str, Any]:
        """Accounts, open amount, credit and balance per group, always split by currency.

        ``balance`` = open - credit: negative when the accounts' credit exceeds what they owe.
        """
        names = parse_group_by(group_by)
        with ctx.sessions() as session:
            return {"group_by": names, "rows": queries.portfolio(session, tenant, names)}

    @api.get("/v1/accounts/{account_id}/balances")
    def get_account_balances(account_id: AccountId, tenant: TenantDep) -> dict[str, Any]:
        """Per currency: bucket, stage, days past due, open amount, credit and balance."""
        with ctx.sessions() as session:
            rows = queries.account_balances(session, tenant, account_id)
        if rows is None:
            raise HTTPException(404, detail=f"unknown account {account_id!r}")
        return {"account_id": account_id, "balances": rows}

    @api.get("/v1/suspense")
    def get_suspense(tenant: TenantDep) -> list[dict[str, Any]]:
        """Payments waiting in suspense (no account found yet), per currency."""
        with ctx.sessions() as session:
            return queries.suspense(session, tenant)

    @api.get("/v1/kpis/payments")
    def get_payment_kpis(tenant: TenantDep) -> list[dict[str, Any]]:
        """Payments received as reported by banks and core systems, per currency (not money applied)."""
        with ctx.sessions() as session:
            return queries.payments_received(session, tenant)

    @api.get("/v1/kpis/promises")
    def get_promise_kpis(tenant: TenantDep) -> dict[str, Any]:
        """Promises made, kept, broken, open, and the kept rate over resolved promises."""
        with ctx.sessions() as session:
            return queries.promise_kpis(session, tenant)

    @api.get("/v1/kpis/contacts")
    def get_contact_kpis(tenant: TenantDep) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            return queries.contact_kpis(session, tenant)

    @api.get("/dashboard", response_class=HTMLResponse)
    def dashboard(tenant: TenantDep) -> str:
        with ctx.sessions() as session:
            rows = queries.portfolio(session, tenant, ["bucket"])
            parked = queries.suspense(session, tenant)
            kpis = queries.promise_kpis(session, tenant)
            channels = queries.contact_kpis(session, tenant)
        rate = kpis["kept_rate"]
        return _templates.get_template("dashboard.html").render(
            tenant=tenant,
            rows=rows,
            suspense=parked,
            kpis=kpis,
            rate=None if rate is None else f"{(Decimal(rate) * 100):.1f} %",
            channels=channels,
            now=ctx.clock.now(),
        )

    return api
