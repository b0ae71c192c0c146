"""notifier's API: the contact task queue (call centers report voice outcomes here) and letters.

Every route answers for the request's tenant (``TenantDep``): another tenant's task is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from libs.auth.audit import audit_note
from libs.events.payloads.contacts import ContactOptedOut, ContactStatus
from libs.events.types import Channel, Identifier, Label
from libs.runtime.context import ServiceContext
from libs.runtime.http import TenantDep
from services.notifier.adapters.orm import tasks
from services.notifier.adapters.providers import DeliveryResult, PdfLetterProvider
from services.notifier.config import NotifierSettings
from services.notifier.service_layer.handlers import CALL_CENTER, record_outcome

ContactId = Annotated[Identifier, Path(description="the contact, as strategy planned it")]

AUDITED_TASK_FIELDS = (
    "contact_id",
    "account_id",
    "channel",
    "step",
    "scheduled_for",
    "status",
    "provider",
    "detail",
)
"""What the audit log keeps of a task before and after a person's report (not the letter's file)."""


def _audited(task: Any) -> dict[str, Any]:
    mapping = task._mapping if hasattr(task, "_mapping") else task
    return {k: mapping[k] for k in AUDITED_TASK_FIELDS if k in mapping}


class TaskView(BaseModel):
    contact_id: str
    account_id: str
    channel: str
    strategy: str
    step: str
    template: str
    language: str
    scheduled_for: datetime
    status: str
    provider: str | None
    detail: str | None


class OutcomeReport(BaseModel):
    status: ContactStatus
    detail: str | None = Field(default=None, max_length=1000)
    occurred_at: AwareDatetime | None = None


class OptOutReport(BaseModel):
    """A debtor's withdrawal answering a contact: a STOP reply, an unsubscribe link, a request."""

    source: Label = Field(default="stop_reply", description="stop_reply, unsubscribe, debtor_request, …")
    occurred_at: AwareDatetime | None = None


class OptOutView(BaseModel):
    contact_id: str
    account_id: str
    channel: str
    source: str
    occurred_at: datetime


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["notifier"])

    @api.get("/tasks", response_model=list[TaskView])
    def list_tasks(
        tenant: TenantDep,
        channel: Channel | None = None,
        status: str | None = Query(default=None, max_length=16),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """Contact tasks, oldest due first; ``?channel=voice&status=queued`` is the call-center queue."""
        query = (
            select(tasks)
            .where(tasks.c.tenant_id == tenant)
            .order_by(tasks.c.scheduled_for, tasks.c.contact_id)
            .limit(limit)
        )
        if channel is not None:
            query = query.where(tasks.c.channel == channel)
        if status is not None:
            query = query.where(tasks.c.status == status)
        with ctx.sessions() as session:
            return [dict(r) for r in session.execute(query).mappings()]

    @api.post("/tasks/{contact_id}/outcome", response_model=TaskView)
    def report_outcome(
        contact_id: ContactId, report: OutcomeReport, tenant: TenantDep, request: Request
    ) -> dict[str, Any]:
        """A call center (or a provider's receipt) reports what happened with a contact."""
        mine = (tasks.c.tenant_id == tenant, tasks.c.contact_id == contact_id)
        note = audit_note(request)
        note.after = {"requested": report}
        with ctx.unit_of_work(correlation_id=contact_id, tenant=tenant) as uow:
            task = uow.session.execute(select(tasks).where(*mine).with_for_update()).first()
            if task is None:
                raise HTTPException(404, f"no contact task {contact_id!r}")
            note.object_ids = {"account_id": task.account_id}
            note.before = _audited(task)
            if task.status in ("scheduled", "ready", "sending"):
                raise HTTPException(409, f"contact {contact_id!r} has not been delivered yet ({task.status})")
            provider = task.provider or CALL_CENTER
            record_outcome(uow, task, DeliveryResult(report.status, provider, report.detail))
        with ctx.sessions() as session:
            row = session.execute(select(tasks).where(*mine)).mappings().one()
        note.after = {"requested": report, "task": _audited(row)}
        return dict(row)

    @api.post("/tasks/{contact_id}/opt-out", response_model=OptOutView, status_code=202)
    def report_opt_out(
        contact_id: ContactId, report: OptOutReport, tenant: TenantDep, request: Request
    ) -> dict[str, Any]:
        """The debtor withdrew consent for the contact's channel: ``cobranza.contact.opted_out`` at once.

        Strategy stops using the channel for the account from that moment (consent closed until a
        new recorded consent), whatever the task's own state.
        """
        note = audit_note(request)
        note.after = {"requested": report}
        with ctx.unit_of_work(correlation_id=contact_id, tenant=tenant) as uow:
            task = uow.session.execute(
                select(tasks.c.account_id, tasks.c.channel, tasks.c.status).where(
                    tasks.c.tenant_id == tenant, tasks.c.contact_id == contact_id
                )
            ).first()
            if task is None:
                raise HTTPException(404, f"no contact task {contact_id!r}")
            note.object_ids = {"account_id": task.account_id}
            note.before = _audited(task)
            event = ContactOptedOut(
                account_id=task.account_id,
                channel=task.channel,
                occurred_at=report.occurred_at or uow.now(),
                source=report.source,
                contact_id=contact_id,
            )
            uow.emit(event)
        answer = {
            "contact_id": contact_id,
            "account_id": event.account_id,
            "channel": event.channel,
            "source": event.source,
            "occurred_at": event.occurred_at,
        }
        note.after = {"published": event}
        return answer

    @api.get("/letters/{contact_id}.pdf")
    def letter(contact_id: ContactId, tenant: TenantDep) -> FileResponse:
        with ctx.sessions() as session:
            task = session.execute(
                select(tasks.c.channel, tasks.c.artifact).where(
                    tasks.c.tenant_id == tenant, tasks.c.contact_id == contact_id
                )
            ).first()
        if task is None or task.channel != "letter" or not task.artifact:
            raise HTTPException(404, f"no letter for contact {contact_id!r}")
        path = PdfLetterProvider(NotifierSettings().root).path_for(contact_id, tenant)
        if not path.is_file():
            raise HTTPException(404, f"letter file for {contact_id!r} is missing")
        return FileResponse(path, media_type="application/pdf", filename=f"{contact_id}.pdf")

    return api
