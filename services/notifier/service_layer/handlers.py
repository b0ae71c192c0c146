"""notifier's handlers: keep a task per contact and deliver it when it is due, a batch at a time.

Rows are the batch's tenant's (``uow.tenant``); a customer reaches its recipients
through ``account_ids`` in the payload (the customers topic is keyed by customer).
Every handler is a batch handler: tasks are inserted in one statement, recipients
upserted in one, the recipients of the due tasks read in one, task states written
back in one, and outcomes emitted together, each caused by its ``contact.due``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session

from libs.events.envelope import Envelope
from libs.events.payloads.contacts import ContactDue, ContactOutcome
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceIssued
from libs.events.registry import DecodedEvent
from libs.runtime.uow import DueTimer, UnitOfWork
from services.notifier.adapters.orm import tasks
from services.notifier.adapters.providers import Delivery, DeliveryResult, Recipient, providers_for
from services.notifier.config import NotifierSettings
from services.notifier.domain.messages import UnknownTemplate, render

DELIVER_TIMER = "deliver"
CALL_CENTER = "call-center"

# Multi-row writes take one JSON array cast server-side: the same SQL text whatever the batch size.
_UPSERT_RECIPIENTS = text(
    """
    INSERT INTO notifier.recipients (tenant_id, account_id, name, email, phone, address, updated_at)
    SELECT :tenant, r.account_id, r.name, r.email, r.phone, r.address, :now
      FROM jsonb_to_recordset(CAST(:rows AS jsonb))
           AS r(account_id text, name text, email text, phone text, address text)
    ON CONFLICT (tenant_id, account_id) DO UPDATE
       SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, address = EXCLUDED.address,
           updated_at = EXCLUDED.updated_at
    """
)
_FILL_RECIPIENTS = text(
    """
    INSERT INTO notifier.recipients AS p (tenant_id, account_id, name, email, phone, updated_at)
    SELECT :tenant, r.account_id, r.name, r.email, r.phone, :now
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(account_id text, name text, email text, phone text)
    ON CONFLICT (tenant_id, account_id) DO UPDATE
       SET email = COALESCE(p.email, EXCLUDED.email), phone = COALESCE(p.phone, EXCLUDED.phone)
    """
)
_INSERT_TASKS = text(
    """
    INSERT INTO notifier.tasks (tenant_id, contact_id, account_id, channel, strategy, step, template, language,
        scheduled_for, status, updated_at)
    SELECT :tenant, r.contact_id, r.account_id, r.channel, r.strategy, r.step, r.template, r.language,
           r.scheduled_for, 'scheduled', :now
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(contact_id text, account_id text, channel text,
           strategy text, step text, template text, language text, scheduled_for timestamptz)
    ON CONFLICT DO NOTHING
    RETURNING *
    """
)


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"))


def _recipient_values(customer: CustomerUpserted) -> dict[str, str | None]:
    """What the customer master says of how to reach the debtor: consented points first, primary first."""

    def point(*channels: str) -> str | None:
        usable = [p for p in customer.contact_points if p.channel in channels and p.consent]
        usable.sort(key=lambda p: not p.primary)
        return usable[0].value if usable else None

    return {
        "name": customer.name,
        "email": point("email") or customer.email,
        "phone": point("sms", "whatsapp", "voice") or customer.phone,
        "address": point("letter") or customer.address,
    }


def on_customers_upserted(events: Sequence[DecodedEvent[CustomerUpserted]], uow: UnitOfWork) -> None:
    """The customer master's word replaces a recipient's; the batch's last word on an account stands."""
    latest: dict[str, dict[str, str | None]] = {}
    for event in events:
        values = _recipient_values(event.payload)
        for account_id in event.payload.account_ids:
            latest.pop(account_id, None)
            latest[account_id] = values
    if not latest:
        return
    uow.session.execute(
        _UPSERT_RECIPIENTS,
        {
            "tenant": uow.tenant,
            "now": uow.now(),
            "rows": _json([{"account_id": a, **v} for a, v in latest.items()]),
        },
    )


def on_invoices_issued(events: Sequence[DecodedEvent[InvoiceIssued]], uow: UnitOfWork) -> None:
    """The invoice's debtor data fills what the customer master has not given yet (the first word stays)."""
    first: dict[str, dict[str, str | None]] = {}
    for event in events:
        customer = event.payload.customer
        known = first.setdefault(
            event.payload.account_id, {"name": customer.name, "email": None, "phone": None}
        )
        known["email"] = known["email"] or customer.email
        known["phone"] = known["phone"] or customer.phone
    if not first:
        return
    uow.session.execute(
        _FILL_RECIPIENTS,
        {
            "tenant": uow.tenant,
            "now": uow.now(),
            "rows": _json([{"account_id": a, **v} for a, v in first.items()]),
        },
    )


def on_contacts_due(events: Sequence[DecodedEvent[ContactDue]], uow: UnitOfWork) -> None:
    """New contacts become tasks (a repeated contact id is a no-op); the ones due now are delivered."""
    firsts: dict[str, DecodedEvent[ContactDue]] = {}
    for event in events:
        firsts.setdefault(event.payload.contact_id, event)
    now = uow.now()
    rows = [
        {
            "contact_id": c.contact_id,
            "account_id": c.account_id,
            "channel": c.channel,
            "strategy": c.strategy,
            "step": c.step,
            "template": c.template,
            "language": c.language,
            "scheduled_for": c.scheduled_for.isoformat(),
        }
        for c in (e.payload for e in firsts.values())
    ]
    inserted = uow.session.execute(
        _INSERT_TASKS, {"tenant": uow.tenant, "now": now, "rows": _json(rows)}
    ).all()
    new = {row.contact_id: row for row in inserted}
    fresh = [(new[cid], e) for cid, e in firsts.items() if cid in new]
    uow.schedule_many(
        DELIVER_TIMER, ((t.contact_id, t.scheduled_for) for t, _ in fresh if t.scheduled_for > now)
    )
    due = [(t, e.envelope) for t, e in fresh if t.scheduled_for <= now]
    deliver_many(uow, [t for t, _ in due], [c for _, c in due])


def on_deliver(due: DueTimer, uow: UnitOfWork) -> None:
    task = uow.session.execute(
        select(tasks).where(tasks.c.tenant_id == uow.tenant, tasks.c.contact_id == due.key).with_for_update()
    ).first()
    if task is not None:
        deliver_many(uow, [task], [None])


def deliveries_for(
    session: Session, pending: Sequence[Row[Any]], settings: NotifierSettings
) -> list[Delivery | DeliveryResult]:
    """The rendered message of each task (its recipient read with the others'), or a failed result."""
    keys = sorted({(t.tenant_id, t.account_id) for t in pending})
    people = {
        (p.tenant_id, p.account_id): Recipient(p.name, p.email, p.phone, p.address)
        for p in session.execute(
            text(
                "SELECT tenant_id, account_id, name, email, phone, address FROM notifier.recipients "
                "WHERE (tenant_id, account_id) IN "
                "(SELECT * FROM unnest(CAST(:tenants AS text[]), CAST(:accounts AS text[])))"
            ),
            {"tenants": [k[0] for k in keys], "accounts": [k[1] for k in keys]},
        )
    }
    out: list[Delivery | DeliveryResult] = []
    for task in pending:
        recipient = people.get((task.tenant_id, task.account_id)) or Recipient("cliente")
        context = {
            "name": recipient.name,
            "account_id": task.account_id,
            "address": recipient.address or "",
            "sender": settings.sender_name,
        }
        try:
            message = render(task.template, context)
        except UnknownTemplate as exc:
            out.append(DeliveryResult("failed", "notifier", str(exc)))
            continue
        out.append(
            Delivery(task.contact_id, task.account_id, task.channel, recipient, message, task.tenant_id)
        )
    return out


def deliver_many(uow: UnitOfWork, pending: Sequence[Row[Any]], causes: Sequence[Envelope | None]) -> None:
    """Deliver the scheduled ones among ``pending`` (``causes`` beside them: the event each answers).

    Voice goes to the call-center queue, network providers wait for the dispatcher
    (``ready``), file providers deliver at once and their outcomes are recorded.
    """
    todo = [(t, c) for t, c in zip(pending, causes, strict=True) if t.status == "scheduled"]
    if not todo:
        return
    settings = NotifierSettings()
    providers = providers_for(settings)
    states: list[tuple[Row[Any], dict[str, str | None]]] = []
    outcomes: list[tuple[Row[Any], DeliveryResult, Envelope | None]] = []
    voice = [(t, c) for t, c in todo if t.channel == "voice"]
    others = [(t, c) for t, c in todo if t.channel != "voice"]
    states += [(t, {"status": "queued", "provider": CALL_CENTER}) for t, _ in voice]
    prepared = deliveries_for(uow.session, [t for t, _ in others], settings)
    for (task, cause), item in zip(others, prepared, strict=True):
        provider = providers[task.channel]
        if isinstance(item, DeliveryResult):
            outcomes.append((task, item, cause))
        elif not provider.inline:
            states.append((task, {"status": "ready", "provider": provider.name}))
        else:
            outcomes.append((task, provider.deliver(item), cause))
    _set_states(uow, states)
    record_outcomes(uow, outcomes)


def _set_states(uow: UnitOfWork, states: Iterable[tuple[Row[Any], dict[str, str | None]]]) -> None:
    """One UPDATE for every task's new status, provider, detail and artifact (unset ones stay)."""
    rows = [{"contact_id": t.contact_id, **values} for t, values in states]
    if not rows:
        return
    uow.session.execute(
        text(
            """
            UPDATE notifier.tasks t
               SET status = r.status, provider = r.provider,
                   detail = CASE WHEN r.has_detail THEN r.detail ELSE t.detail END,
                   artifact = CASE WHEN r.has_detail THEN r.artifact ELSE t.artifact END,
                   updated_at = :now
              FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                   AS r(contact_id text, status text, provider text, detail text, artifact text, has_detail bool)
             WHERE t.tenant_id = :tenant AND t.contact_id = r.contact_id
            """
        ),
        {
            "tenant": uow.tenant,
            "now": uow.now(),
            "rows": _json([{**r, "has_detail": "detail" in r} for r in rows]),
        },
    )


def record_outcome(uow: UnitOfWork, task: Row[Any], result: DeliveryResult) -> None:
    """Store one outcome and announce it; ``uow`` must be the task's tenant's."""
    record_outcomes(uow, [(task, result, None)])


def record_outcomes(
    uow: UnitOfWork, outcomes: Sequence[tuple[Row[Any], DeliveryResult, Envelope | None]]
) -> None:
    """Store outcomes in one statement and announce them, each caused by its event (None: ``uow``'s own)."""
    for task, _, _ in outcomes:
        if uow.tenant != task.tenant_id:
            raise ValueError(
                f"contact {task.contact_id}: tenant {task.tenant_id!r}, unit of work {uow.tenant!r}"
            )
    _set_states(
        uow,
        (
            (t, {"status": r.status, "provider": r.provider, "detail": r.detail, "artifact": r.artifact})
            for t, r, _ in outcomes
        ),
    )
    uow.emit_many(
        (
            ContactOutcome(
                contact_id=task.contact_id,
                account_id=task.account_id,
                channel=task.channel,
                status=result.status,
                occurred_at=uow.now(),
                provider=result.provider,
                detail=result.detail,
            )
            for task, result, _ in outcomes
        ),
        causes=[cause for _, _, cause in outcomes],
    )
