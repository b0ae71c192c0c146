"""reporting's API: portfolio by dimension, promise and contact KPIs, and an HTML dashboard."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from libs.runtime.context import ServiceContext
from services.reporting.adapters.orm import v_account_balances

DIMENSIONS = ("bucket", "product_line", "advisor_id", "office_id", "agency_id")
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
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


def portfolio(session: Session, group_by: list[str]) -> list[dict[str, Any]]:
    v = v_account_balances
    columns = [v.c[name] for name in group_by] + [v.c.currency]
    query = (
        select(*columns, func.count().label("accounts"), func.sum(v.c.balance).label("balance"))
        .group_by(*columns)
        .order_by(*columns)
    )
    return [dict(r) for r in session.execute(query).mappings()]


def promise_kpis(session: Session) -> dict[str, Any]:
    row = session.execute(text("SELECT * FROM reporting.v_promise_kept_rate")).mappings().one()
    return dict(row)


def contact_kpis(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        text("SELECT channel, status, contacts FROM reporting.v_contacts_by_channel ORDER BY channel, status")
    ).mappings()
    return [dict(r) for r in rows]


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["reporting"])

    @api.get("/v1/portfolio")
    def get_portfolio(
        group_by: str = Query(default="bucket", description=f"comma-separated: {', '.join(DIMENSIONS)}"),
    ) -> dict[str, Any]:
        """Accounts and open balance per group (always split by currency: balances never mix)."""
        names = parse_group_by(group_by)
        with ctx.sessions() as session:
            return {"group_by": names, "rows": portfolio(session, names)}

    @api.get("/v1/kpis/promises")
    def get_promise_kpis() -> dict[str, Any]:
        """Promises made, kept, broken, open, and the kept rate over resolved promises."""
        with ctx.sessions() as session:
            return promise_kpis(session)

    @api.get("/v1/kpis/contacts")
    def get_contact_kpis() -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            return contact_kpis(session)

    @api.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> str:
        with ctx.sessions() as session:
            rows = portfolio(session, ["bucket"])
            kpis = promise_kpis(session)
            channels = contact_kpis(session)
        rate = kpis["kept_rate"]
        return _templates.get_template("dashboard.html").render(
            rows=rows,
            kpis=kpis,
            rate=None if rate is None else f"{(Decimal(rate) * 100):.1f} %",
            channels=channels,
            now=ctx.clock.now(),
        )

    return api
