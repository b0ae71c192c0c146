"""The auditor's view: every decision strategy took about an account, oldest first.

``GET /v1/accounts/{account_id}/decisions`` with ``since``/``until`` (aware ISO times, ``since``
inclusive, ``until`` exclusive), ``kind`` (repeatable) and ``limit`` (default 500, at most 5000:
the newest ``limit`` decisions of the window, still oldest first). 404 for an account strategy
does not know in the request's tenant.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime
from sqlalchemy import select

from libs.events.types import Identifier
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.strategy.adapters.decisions import decisions
from services.strategy.adapters.orm import accounts
from services.strategy.domain.decisions import DecisionKind

AccountId = Annotated[Identifier, Path(description="the tenant's account id")]

COLUMNS = (
    decisions.c.decision_id,
    decisions.c.account_id,
    decisions.c.currency,
    decisions.c.kind,
    decisions.c.at,
    decisions.c.contact_id,
    decisions.c.channel,
    decisions.c.reason,
    decisions.c.detail,
    decisions.c.strategy,
    decisions.c.strategy_version,
    decisions.c.actor,
    decisions.c.cause_event_id,
)


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["strategy"])

    @api.get("/accounts/{account_id}/decisions")
    def account_decisions(
        account_id: AccountId,
        tenant: TenantDep,
        since: Annotated[AwareDatetime | None, Query(description="from this time on (inclusive)")] = None,
        until: Annotated[AwareDatetime | None, Query(description="before this time (exclusive)")] = None,
        kind: Annotated[list[DecisionKind] | None, Query(description="only these kinds (repeatable)")] = None,
        limit: Annotated[int, Query(ge=1, le=5000, description="at most this many, the newest")] = 500,
    ) -> list[dict[str, Any]]:
        """Why the debtor was contacted when they were: each decision with its rule, reason and detail."""
        if since is not None and until is not None and until <= since:
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("query", "until"),
                        "msg": "until must be after since",
                        "input": str(until),
                    }
                ]
            )
        with ctx.sessions() as session:
            known = session.execute(
                select(accounts.c.account_id).where(
                    accounts.c.tenant_id == tenant, accounts.c.account_id == account_id
                )
            ).first()
            if known is None:
                raise HTTPException(status_code=404, detail=f"no account {account_id!r}")
            query = select(*COLUMNS).where(
                decisions.c.tenant_id == tenant, decisions.c.account_id == account_id
            )
            if since is not None:
                query = query.where(decisions.c.at >= since)
            if until is not None:
                query = query.where(decisions.c.at < until)
            if kind:
                query = query.where(decisions.c.kind.in_(sorted(set(kind))))
            newest = query.order_by(decisions.c.at.desc(), decisions.c.decision_id.desc()).limit(limit)
            rows = [dict(r) for r in session.execute(newest).mappings()]
            rows.reverse()
            return rows

    return api
