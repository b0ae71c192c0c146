"""notifier's handlers: keep a task per contact and deliver it when it is due.

Rows are the event's tenant's (``uow.tenant``); a customer reaches its recipients
through ``account_ids`` in the payload (the customers topic is keyed by customer).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.contacts import ContactDue, ContactOutcome
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceIssued
from libs.events.registry import DecodedEvent
from libs.runtime.uow import DueTimer, UnitOfWork
from services.notifier.adapters.orm import recipients, tasks
from services.notifier.adapters.providers import Delivery, DeliveryResult, Provider, Recipient, providers_for
from services.notifier.config import NotifierSettings
from services.notifier.domain.messages import UnknownTemplate, render

DELIVER_TIMER = "deliver"
CALL_CENTER = "call-center"


def on_customer_upserted(event: DecodedEvent[CustomerUpserted], uow: UnitOfWork) -> None:
    customer = event.payload

    def point(*channels: str) -> str | None:
        usable = [p for p in customer.contact_points if p.channel in channels and p.consent]
        usable.sort(key=lambda p: not p.primary)
        return usable[0].value if usable else None

    values = {
        "name": customer.name,
        "email": point("email") or customer.email,
        "phone": point("sms", "whatsapp", "voice") or customer.phone,
        "address": point("letter") or customer.address,
        "updated_at": uow.now(),
    }
    if not customer.account_ids:
        return
    rows = [{"tenant_id": uow.tenant, "account_id": a, **values} for a in dict.fromkeys(customer.account_ids)]
    stmt = pg_insert(recipients).values(rows)
    uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "account_id"], set_={k: stmt.excluded[k] for k in values}
        )
    )


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    """The invoice's debtor data fills what the customer master has not given yet."""
    invoice = event.payload
    stmt = pg_insert(recipients).values(
        tenant_id=uow.tenant,
        account_id=invoice.account_id,
        name=invoice.customer.name,
        email=invoice.customer.email,
        phone=invoice.customer.phone,
        updated_at=uow.now(),
    )
    uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "account_id"],
            set_={
                "email": func.coalesce(recipients.c.email, stmt.excluded.email),
                "phone": func.coalesce(recipients.c.phone, stmt.excluded.phone),
            },
        )
    )


def on_contact_due(event: DecodedEvent[ContactDue], uow: UnitOfWork) -> None:
    contact = event.payload
    inserted = uow.session.execute(
        pg_insert(tasks)
        .values(
            tenant_id=uow.tenant,
            contact_id=contact.contact_id,
            account_id=contact.account_id,
            channel=contact.channel,
            strategy=contact.strategy,
            step=contact.step,
            template=contact.template,
            language=contact.language,
            scheduled_for=contact.scheduled_for,
            status="scheduled",
            updated_at=uow.now(),
        )
        .on_conflict_do_nothing()
        .returning(tasks.c.contact_id)
    ).first()
    if inserted is None:
        return
    if contact.scheduled_for > uow.now():
        uow.schedule(DELIVER_TIMER, contact.contact_id, contact.scheduled_for)
    else:
        deliver(uow, contact.contact_id)


def on_deliver(due: DueTimer, uow: UnitOfWork) -> None:
    deliver(uow, due.key)


def delivery_for(uow_session: Any, task: Row[Any], settings: NotifierSettings) -> Delivery | DeliveryResult:
    """The rendered message for a task, or a failed result when it cannot be rendered."""
    person = uow_session.execute(
        select(recipients).where(
            recipients.c.tenant_id == task.tenant_id, recipients.c.account_id == task.account_id
        )
    ).first()
    recipient = (
        Recipient(person.name, person.email, person.phone, person.address) if person else Recipient("cliente")
    )
    context = {
        "name": recipient.name,
        "account_id": task.account_id,
        "address": recipient.address or "",
        "sender": settings.sender_name,
    }
    try:
        message = render(task.template, context)
    except UnknownTemplate as exc:
        return DeliveryResult("failed", "notifier", str(exc))
    return Delivery(task.contact_id, task.account_id, task.channel, recipient, message, task.tenant_id)


def deliver(uow: UnitOfWork, contact_id: str) -> None:
    task = uow.session.execute(
        select(tasks)
        .where(tasks.c.tenant_id == uow.tenant, tasks.c.contact_id == contact_id)
        .with_for_update()
    ).first()
    if task is None or task.status != "scheduled":
        return
    if task.channel == "voice":
        _set(uow, contact_id, status="queued", provider=CALL_CENTER)
        return
    settings = NotifierSettings()
    provider: Provider = providers_for(settings)[task.channel]
    prepared = delivery_for(uow.session, task, settings)
    if isinstance(prepared, DeliveryResult):
        record_outcome(uow, task, prepared)
    elif not provider.inline:
        _set(uow, contact_id, status="ready", provider=provider.name)
    else:
        record_outcome(uow, task, provider.deliver(prepared))


def _set(uow: UnitOfWork, contact_id: str, **values: Any) -> None:
    uow.session.execute(
        update(tasks)
        .where(tasks.c.tenant_id == uow.tenant, tasks.c.contact_id == contact_id)
        .values(updated_at=uow.now(), **values)
    )


def record_outcome(uow: UnitOfWork, task: Row[Any], result: DeliveryResult) -> None:
    """Store the outcome and announce it; ``uow`` must be the task's tenant's."""
    if uow.tenant != task.tenant_id:
        raise ValueError(f"contact {task.contact_id}: tenant {task.tenant_id!r}, unit of work {uow.tenant!r}")
    _set(
        uow,
        task.contact_id,
        status=result.status,
        provider=result.provider,
        detail=result.detail,
        artifact=result.artifact,
    )
    uow.emit(
        ContactOutcome(
            contact_id=task.contact_id,
            account_id=task.account_id,
            channel=task.channel,
            status=result.status,
            occurred_at=uow.now(),
            provider=result.provider,
            detail=result.detail,
        )
    )
