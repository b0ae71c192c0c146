"""strategy's API: an account's promises, contact plan and pauses; agents' commands; versioned playbooks.

Scoped by the request's tenant: another tenant's account answers 404.

Commands an agent gives (a promise, a pause, a resume) are **published**, not applied here: the
same event a core system would send (``cobranza.promise.made``, ``cobranza.collection.paused`` /
``.resumed``) goes to the outbox in the request's transaction, and strategy applies it as it
applies any other, in the account's order. Hence 202 with what was published. The agent is the
body's ``agent_id`` (a call-center system naming its agent), else the ``X-Cobranza-Agent`` header,
else the credential's subject.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from libs.auth.audit import audit_note
from libs.auth.principal import Principal
from libs.events.payloads.promises import PromiseMade
from libs.events.payloads.treatment import CollectionPaused, CollectionResumed, PauseReason
from libs.events.types import CurrencyCode, Identifier, Label, PositiveAmount, Text
from libs.runtime.context import ServiceContext
from libs.runtime.http import PrincipalDep, TenantDep
from libs.runtime.observability import correlation_id
from services.strategy.adapters import repository
from services.strategy.adapters.orm import (
    accounts,
    contacts,
    pauses,
    promise_payments,
    promises,
    strategy_versions,
)
from services.strategy.config import strategy_config
from services.strategy.domain.playbooks import PlaybookError, parse_playbook, playbook_document
from services.strategy.domain.treatment import pause_in_force
from services.strategy.entrypoints import audit_views
from services.strategy.service_layer.handlers import pause_id_of

AccountId = Annotated[Identifier, Path(description="the tenant's account id")]
AgentHeader = Annotated[
    Identifier | None,
    Header(alias="X-Cobranza-Agent", description="the agent giving the command (until credentials carry it)"),
]
MadeVia = Literal["agent", "call_center", "portal", "ivr", "whatsapp", "email", "other"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromiseRequest(Strict):
    promise_id: Identifier | None = Field(default=None, description="the tenant's id; minted when absent")
    amount: PositiveAmount
    currency: CurrencyCode
    due_on: date = Field(description="the debtor's local date the money is promised for")
    made_via: MadeVia = "agent"
    agent_id: Identifier | None = None


class PauseRequest(Strict):
    reason: PauseReason
    until: date | None = Field(default=None, description="last paused day (debtor's local date)")
    note: Text | None = Field(default=None, max_length=1000)
    agent_id: Identifier | None = None


class ResumeRequest(Strict):
    note: Text | None = Field(default=None, max_length=1000)
    agent_id: Identifier | None = None


class StrategyRequest(Strict):
    name: Label = Field(min_length=1, description="the playbook: a segment's or bucket's name, or default")
    steps: list[Any] = Field(description="the steps, as in the playbooks file")
    created_by: Identifier | None = None


def _invalid(field: str, message: str, value: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )


def _loc(problem: str) -> tuple[str | int, ...]:
    """``steps[2].channel: …`` -> ("body", "steps", 2, "channel")."""
    path = problem.split(":", 1)[0]
    parts: list[str | int] = ["body"]
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _today(session: Session, tenant: str, account_id: str, ctx: ServiceContext) -> date:
    """Today in the debtor's zone (the configured default when strategy does not know it yet)."""
    zone = session.execute(
        select(accounts.c.timezone).where(accounts.c.tenant_id == tenant, accounts.c.account_id == account_id)
    ).scalar()
    return ctx.clock.now().astimezone(ZoneInfo(zone or strategy_config(ctx.extras).default_timezone)).date()


def _subject(principal: Principal) -> str | None:
    """The credential's subject as an agent id (cut to an identifier's 128 characters)."""
    subject = principal.subject.strip()
    return subject[:128] or None


def _row(mapping: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(mapping).items() if k != "tenant_id"}


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

    @api.post("/accounts/{account_id}/promises", status_code=202)
    def make_promise(
        account_id: AccountId,
        body: PromiseRequest,
        tenant: TenantDep,
        principal: PrincipalDep,
        request: Request,
        agent: AgentHeader = None,
    ) -> dict[str, Any]:
        """A promise an agent took: published as ``cobranza.promise.made`` (then kept or broken from cash)."""
        note = audit_note(request)
        note.after = {"requested": body}
        with ctx.unit_of_work(correlation_id=correlation_id.get(), tenant=tenant) as uow:
            note.before = {"open_promises": audit_views.open_promises(uow.session, tenant, account_id)}
            today = _today(uow.session, tenant, account_id, ctx)
            if body.due_on < today:
                raise _invalid(
                    "due_on",
                    f"must not be before today ({today.isoformat()}, debtor's date)",
                    str(body.due_on),
                )
            promise_id = body.promise_id or f"P-{uuid.uuid4().hex}"
            taken = uow.session.execute(
                select(promises.c.account_id).where(
                    promises.c.tenant_id == tenant, promises.c.promise_id == promise_id
                )
            ).first()
            if taken is not None:
                raise HTTPException(409, f"promise {promise_id!r} already exists")
            payload = PromiseMade(
                promise_id=promise_id,
                account_id=account_id,
                amount=body.amount,
                currency=body.currency,
                due_on=body.due_on,
                made_via=body.made_via,
                agent_id=body.agent_id or agent or _subject(principal),
            )
            note.object_ids = {"promise_id": promise_id}
            envelope = uow.emit(payload)
        answer = {"event_id": envelope.id, "status": "open", **payload.model_dump(mode="json")}
        note.after = {"published": answer}
        return answer

    @api.post("/accounts/{account_id}/pauses", status_code=202)
    def pause(
        account_id: AccountId,
        body: PauseRequest,
        tenant: TenantDep,
        principal: PrincipalDep,
        request: Request,
        agent: AgentHeader = None,
    ) -> dict[str, Any]:
        """Pause collection (no contact, no escalation): published as ``cobranza.collection.paused``."""
        note = audit_note(request)
        note.after = {"requested": body}
        with ctx.unit_of_work(correlation_id=correlation_id.get(), tenant=tenant) as uow:
            note.before = {
                "pauses_in_force": audit_views.pauses_in_force(uow.session, tenant, account_id, uow.now())
            }
            if body.until is not None and body.reason not in ("deceased", "bankruptcy"):
                today = _today(uow.session, tenant, account_id, ctx)
                if body.until < today:
                    raise _invalid(
                        "until",
                        f"must not be before today ({today.isoformat()}, debtor's date)",
                        str(body.until),
                    )
            payload = CollectionPaused(
                account_id=account_id,
                reason=body.reason,
                until=body.until,
                note=body.note,
                agent_id=body.agent_id or agent or _subject(principal),
            )
            envelope = uow.emit(payload)
        answer = {
            "pause_id": pause_id_of(envelope),
            "event_id": envelope.id,
            **payload.model_dump(mode="json"),
        }
        note.object_ids = {"pause_id": answer["pause_id"]}
        note.after = {"published": answer}
        return answer

    @api.post("/accounts/{account_id}/resume", status_code=202)
    def resume(
        account_id: AccountId,
        tenant: TenantDep,
        principal: PrincipalDep,
        http_request: Request,
        agent: AgentHeader = None,
        body: ResumeRequest | None = None,
    ) -> dict[str, Any]:
        """End every pause of the account (deceased and bankruptcy too): ``cobranza.collection.resumed``."""
        request = body or ResumeRequest()
        note = audit_note(http_request)
        note.after = {"requested": request}
        with ctx.unit_of_work(correlation_id=correlation_id.get(), tenant=tenant) as uow:
            in_force = audit_views.pauses_in_force(uow.session, tenant, account_id, uow.now())
            note.before = {"pauses_in_force": in_force}
            payload = CollectionResumed(
                account_id=account_id,
                note=request.note,
                agent_id=request.agent_id or agent or _subject(principal),
            )
            envelope = uow.emit(payload)
        answer = {"event_id": envelope.id, **payload.model_dump(mode="json")}
        note.object_ids = {"pause_ids": [p["pause_id"] for p in in_force]}
        note.after = {"published": answer}
        return answer

    @api.get("/accounts/{account_id}/pauses")
    def account_pauses(account_id: AccountId, tenant: TenantDep) -> list[dict[str, Any]]:
        """Every pause of the account, newest first, and whether it holds collection now."""
        now = ctx.clock.now()
        with ctx.sessions() as session:
            _known(session, tenant, account_id)
            rows = session.execute(
                select(pauses)
                .where(pauses.c.tenant_id == tenant, pauses.c.account_id == account_id)
                .order_by(pauses.c.started_at.desc(), pauses.c.pause_id)
            ).mappings()
            return [{**_row(r), "in_force": pause_in_force(_PauseRow(r), now)} for r in rows]

    @api.get("/strategies")
    def list_strategies(tenant: TenantDep) -> list[dict[str, Any]]:
        """The active version of every playbook (the packaged ones are version 1)."""
        with ctx.unit_of_work(tenant=tenant) as uow:
            repository.active_strategies(uow.session, tenant, strategy_config(ctx.extras), uow.now())
            rows = uow.session.execute(
                select(strategy_versions)
                .where(strategy_versions.c.tenant_id == tenant, strategy_versions.c.active)
                .order_by(strategy_versions.c.name)
            ).mappings()
            return [_row(r) for r in rows]

    @api.get("/strategies/{name}/versions")
    def strategy_history(name: Annotated[Label, Path()], tenant: TenantDep) -> list[dict[str, Any]]:
        """Every version of one playbook, newest first."""
        with ctx.unit_of_work(tenant=tenant) as uow:
            repository.active_strategies(uow.session, tenant, strategy_config(ctx.extras), uow.now())
            rows = [
                _row(r)
                for r in uow.session.execute(
                    select(strategy_versions)
                    .where(strategy_versions.c.tenant_id == tenant, strategy_versions.c.name == name)
                    .order_by(strategy_versions.c.version.desc())
                ).mappings()
            ]
        if not rows:
            raise HTTPException(404, f"no strategy {name!r}")
        return rows

    @api.post("/strategies", status_code=201)
    def new_strategy_version(
        body: StrategyRequest,
        tenant: TenantDep,
        principal: PrincipalDep,
        request: Request,
        agent: AgentHeader = None,
    ) -> dict[str, Any]:
        """A new version of a playbook, active at once for the contacts planned from now on.

        Validated as the playbooks file is: 422 naming every bad step (``steps[2].channel: …``).
        """
        note = audit_note(request)
        note.object_ids = {"name": body.name}
        note.after = {"requested": body}
        try:
            playbook = parse_playbook(body.name, {"steps": body.steps})
        except PlaybookError as exc:
            raise RequestValidationError(
                [{"type": "strategy_invalid", "loc": _loc(p), "msg": p} for p in exc.problems]
            ) from exc
        with ctx.unit_of_work(tenant=tenant) as uow:
            session, now = uow.session, uow.now()
            repository.active_strategies(session, tenant, strategy_config(ctx.extras), now)
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"strategy_versions|{tenant}|{body.name}"},
            )
            note.before = audit_views.active_strategy(session, tenant, body.name)
            latest = session.execute(
                select(func.max(strategy_versions.c.version)).where(
                    strategy_versions.c.tenant_id == tenant, strategy_versions.c.name == body.name
                )
            ).scalar()
            session.execute(
                strategy_versions.update()
                .where(
                    strategy_versions.c.tenant_id == tenant,
                    strategy_versions.c.name == body.name,
                    strategy_versions.c.active,
                )
                .values(active=False)
            )
            row = {
                "tenant_id": tenant,
                "name": body.name,
                "version": (latest or 0) + 1,
                "document": playbook_document(playbook),
                "created_at": now,
                "created_by": body.created_by or agent or _subject(principal) or "api",
                "active": True,
            }
            session.execute(strategy_versions.insert().values(**row))
        note.object_ids = {"name": body.name, "version": row["version"]}
        note.after = _row(row)
        return _row(row)

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


class _PauseRow:
    def __init__(self, row: Any) -> None:
        self.ends_at: datetime | None = row["ends_at"]
        self.ended_at: datetime | None = row["ended_at"]
