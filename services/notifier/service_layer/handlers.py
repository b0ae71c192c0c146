"""notifier's handlers: keep a task per contact and deliver it when it is due, a batch at a time.

Rows are the batch's tenant's (``uow.tenant``); a customer reaches its recipients
through ``account_ids`` in the payload (the customers topic is keyed by customer).
Every handler is a batch handler: tasks are inserted in one statement, recipients
upserted in one, the recipients of the due tasks read in one, task states written
back in one, and outcomes emitted together, each caused by its ``contact.due``.
The ``deliver`` timer is a batch timer too (``on_deliver``): every due task of a tenant
locked in one statement, delivered as one batch, each outcome caused by its timer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from libs.events.envelope import Envelope
from libs.events.payloads.contacts import ContactDue, ContactOutcome
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import InvoiceIssued
from libs.events.registry import DecodedEvent
from libs.runtime.timers import claim, emit_for
from libs.runtime.uow import DueTimer, UnitOfWork
from services.notifier.adapters.providers import Delivery, DeliveryResult, Recipient, providers_for
from services.notifier.config import NotifierSettings, notifier_settings
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


_LOCK_TASKS = text(
    """
    SELECT * FROM notifier.tasks
     WHERE tenant_id = :tenant AND contact_id = ANY(ARRAY(SELECT json_array_elements_text(CAST(:ids AS json))))
     ORDER BY contact_id
       FOR UPDATE
    """
)
_RECIPIENTS_OF = text(
    """
    SELECT p.tenant_id, p.account_id, p.name, p.email, p.phone, p.address
      FROM notifier.recipients p
      JOIN json_to_recordset(CAST(:keys AS json)) AS k(tenant_id text, account_id text)
        ON p.tenant_id = k.tenant_id AND p.account_id = k.account_id
    """
)
_SET_STATES = text(
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
)

Cause = Envelope | DueTimer | None
"""What an outcome answers: the ``contact.due`` of a consumer batch, the ``deliver`` timer that
fired, or (None) the unit of work's own cause (the dispatcher, the API)."""


def _json(rows: list[Any]) -> str:
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


def on_deliver(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
    """The tenant's ``deliver`` timers that came due, one batch (``libs/runtime/timers.py``).

    The tasks are locked first, in contact order, then the timers claimed (one re-armed or fired
    meanwhile by another replica is not this transaction's), and the claimed ones delivered as a
    consumer batch delivers, in the order single timers fired (time, then contact), each outcome
    with the id its timer alone would have given it. Timer rows are the ones single timers used
    (name ``deliver``, key the contact id), so timers stored before fire here unchanged.
    """
    ids = sorted({d.key for d in due})
    locked = {
        t.contact_id: t for t in uow.session.execute(_LOCK_TASKS, {"tenant": uow.tenant, "ids": _json(ids)})
    }
    claimed = [d for d in claim(uow, due) if d.key in locked]
    deliver_many(uow, [locked[d.key] for d in claimed], claimed)


def deliveries_for(
    session: Session, pending: Sequence[Row[Any]], settings: NotifierSettings
) -> list[Delivery | DeliveryResult]:
    """The rendered message of each task (its recipient read with the others'), or a failed result."""
    if not pending:
        return []
    keys = [{"tenant_id": t, "account_id": a} for t, a in {(t.tenant_id, t.account_id) for t in pending}]
    people = {
        (p.tenant_id, p.account_id): Recipient(p.name, p.email, p.phone, p.address)
        for p in session.execute(_RECIPIENTS_OF, {"keys": _json(keys)})
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


def deliver_many(uow: UnitOfWork, pending: Sequence[Row[Any]], causes: Sequence[Cause]) -> None:
    """Deliver the scheduled ones among ``pending`` (``causes`` beside them: what each answers).

    Voice goes to the call-center queue, network providers wait for the dispatcher
    (``ready``), file providers deliver at once (each its batch in one call) and their
    outcomes are recorded; every task's new state is written in one statement.
    """
    todo = [(t, c) for t, c in zip(pending, causes, strict=True) if t.status == "scheduled"]
    if not todo:
        return
    settings = notifier_settings()
    providers = providers_for(settings)
    states: list[tuple[Row[Any], dict[str, str | None]]] = []
    outcomes: list[tuple[Row[Any], DeliveryResult | None, Cause]] = []
    inline: dict[str, list[tuple[int, Delivery]]] = {}
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
            inline.setdefault(task.channel, []).append((len(outcomes), item))
            outcomes.append((task, None, cause))  # the provider's result, filled in below
    for channel, items in inline.items():
        results = providers[channel].deliver_many([d for _, d in items])
        for (at, _), result in zip(items, results, strict=True):
            task, _, cause = outcomes[at]
            outcomes[at] = (task, result, cause)
    record_outcomes(uow, [(t, r, c) for t, r, c in outcomes if r is not None], states=states)


def _set_states(uow: UnitOfWork, states: Iterable[tuple[Row[Any], dict[str, str | None]]]) -> None:
    """One UPDATE for every task's new status, provider, detail and artifact (unset ones stay)."""
    rows = [{"contact_id": t.contact_id, **values, "has_detail": "detail" in values} for t, values in states]
    if not rows:
        return
    uow.session.execute(_SET_STATES, {"tenant": uow.tenant, "now": uow.now(), "rows": _json(rows)})


def record_outcome(uow: UnitOfWork, task: Row[Any], result: DeliveryResult) -> None:
    """Store one outcome and announce it; ``uow`` must be the task's tenant's."""
    record_outcomes(uow, [(task, result, None)])


def record_outcomes(
    uow: UnitOfWork,
    outcomes: Sequence[tuple[Row[Any], DeliveryResult, Cause]],
    *,
    states: Sequence[tuple[Row[Any], dict[str, str | None]]] = (),
) -> None:
    """Store outcomes (and ``states``: tasks that got no outcome yet) in one statement and announce
    the outcomes in order, each caused by its event or timer (None: ``uow``'s own)."""
    for task, _, _ in outcomes:
        if uow.tenant != task.tenant_id:
            raise ValueError(
                f"contact {task.contact_id}: tenant {task.tenant_id!r}, unit of work {uow.tenant!r}"
            )
    _set_states(
        uow,
        [
            *states,
            *(
                (t, {"status": r.status, "provider": r.provider, "detail": r.detail, "artifact": r.artifact})
                for t, r, _ in outcomes
            ),
        ],
    )
    now = uow.now()
    announced = [
        (
            ContactOutcome(
                contact_id=task.contact_id,
                account_id=task.account_id,
                channel=task.channel,
                status=result.status,
                occurred_at=now,
                provider=result.provider,
                detail=result.detail,
            ),
            cause,
        )
        for task, result, cause in outcomes
    ]
    for by_timer, run in groupby(announced, key=lambda pair: isinstance(pair[1], DueTimer)):
        items = list(run)
        if by_timer:
            emit_for(uow, [(c, p) for p, c in items if isinstance(c, DueTimer)])
        else:
            uow.emit_many((p for p, _ in items), causes=[c for _, c in items if not isinstance(c, DueTimer)])
