"""strategy's timers and contact events, set-based: due contact steps, promise deadlines, outcomes, opt-outs.

Each handler locks the accounts first, in account order, exactly as the consumer batches do
(``adapters/repository.py``), and only then claims its timers (``libs.runtime.timers.claim``)
and touches contacts or promises: a consumer batch and the timer runner, or two replicas, take
the same locks in the same order, so they queue instead of deadlocking, and a timer another
replica already fired (or a consumer re-armed) is skipped. One decision per account at a time.

* ``on_contact_steps``: consent closed by default (no record = suppressed), no dunning while a
  promise is open in that currency, then the debtor's preset (``domain/contact_policy.py``)
  moves the step to the next allowed moment; every outcome is a Decision.
* ``on_promise_deadlines``: an open promise at its deadline is kept or broken.
* ``on_contact_events``: ``contact.outcome`` records direct contacts and telephone
  conversations (``contact_history``); ``contact.opted_out`` withdraws the channel's consent at
  once and suppresses the planned contacts on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from libs.events.envelope import Envelope
from libs.events.payloads.base import EventPayload
from libs.events.payloads.contacts import ContactDue, ContactOptedOut, ContactOutcome
from libs.events.payloads.promises import PromiseBroken, PromiseKept
from libs.events.registry import DecodedEvent
from libs.runtime.timers import claim, emit_for
from libs.runtime.uow import DueTimer, UnitOfWork
from services.strategy.adapters import decisions as store
from services.strategy.adapters import repository
from services.strategy.config import contact_policies, strategy_config
from services.strategy.domain.book import CONTACT_TIMER
from services.strategy.domain.contact_policy import CONVERSATION, DIRECT_STATUSES, History, PastContact
from services.strategy.domain.decisions import Debtor, Decision, DueStep, schedule_due_steps
from services.strategy.domain.promises import is_kept

CONTACT_EVENTS: tuple[str, ...] = ("cobranza.contact.outcome", "cobranza.contact.opted_out")
HISTORY_DAYS = timedelta(days=8)
"""contacts already announced that the policy reads: a week and a day (weekly caps, 7-day calls)"""


def on_contact_steps(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
    """Planned steps whose time has come, one tenant's batch (see the module docstring)."""
    t, session, now = uow.tenant, uow.session, uow.now()
    owners = store.owners(session, t, [d.key for d in due], of="contacts")
    facts = store.lock_accounts(session, t, list(owners.values()))
    claimed = {d.key: d for d in claim(uow, due)}
    rows = store.planned_contacts(session, t, sorted(claimed))
    if not rows:
        return
    ids = sorted({r.account_id for r in rows})
    config = strategy_config(uow.extras)
    consents = repository.consents_of(session, t, ids)
    promised = store.open_promises_of(session, t, ids)
    history = repository.history_of(session, t, ids)
    paused = repository.paused_accounts(session, t, ids, now)
    past: dict[str, list[PastContact]] = {}
    for r in store.scheduled_of(session, t, ids, now - HISTORY_DAYS):
        past.setdefault(r.account_id, []).append(PastContact(r.channel, r.scheduled_for))
    debtors: dict[str, Debtor] = {}
    for account_id in ids:
        row = facts.get(account_id)
        h = history.get(account_id)
        debtors[account_id] = Debtor(
            timezone=(row.timezone if row is not None else None)
            or (None if _country(row, config.default_country) == "US" else config.default_timezone),
            country=_country(row, config.default_country),
            history=History(
                tuple(past.get(account_id, ())),
                h.direct_at if h is not None else None,
                h.direct_channel if h is not None else None,
                h.conversation_at if h is not None else None,
            ),
            consents={ch: ok for (a, ch), ok in consents.items() if a == account_id},
            open_promise_currencies=frozenset(c for a, c in promised if a == account_id),
            paused=account_id in paused,
        )
    ordered = sorted(rows, key=lambda r: (r.account_id, r.planned_for, r.contact_id))
    steps = [
        DueStep(r.contact_id, r.account_id, r.currency, r.channel, r.kind, r.playbook, r.strategy_version)
        for r in ordered
    ]
    outcomes = schedule_due_steps(steps, debtors, contact_policies(uow.extras, t, config.policy), now)
    store.set_contacts(session, t, [(o.contact_id, o.status, o.scheduled_for, o.reason) for o in outcomes])
    store.record(
        session,
        t,
        [d for o in outcomes for d in o.decisions],
        causes=[f"timer:{CONTACT_TIMER}:{o.contact_id}" for o in outcomes for _ in o.decisions],
    )
    by_id = {r.contact_id: r for r in rows}
    announced: list[tuple[DueTimer, EventPayload]] = []
    for o in outcomes:
        if o.status != "due" or o.scheduled_for is None:
            continue
        r = by_id[o.contact_id]
        payload = ContactDue(
            contact_id=r.contact_id,
            account_id=r.account_id,
            channel=r.channel,
            scheduled_for=o.scheduled_for,
            strategy=r.playbook,
            step=r.step,
            template=r.template,
            language=r.language,
            strategy_version=r.strategy_version,
        )
        announced.append((claimed[o.contact_id], payload))
    emit_for(uow, announced)


def _country(row: Any, default: str) -> str:
    return ((row.country if row is not None else None) or default).upper()


def on_promise_deadlines(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
    """Open promises at their deadline: kept when paid in full, else broken; one UPDATE, one insert."""
    t, session, now = uow.tenant, uow.session, uow.now()
    owners = store.owners(session, t, [d.key for d in due], of="promises")
    store.lock_accounts(session, t, list(owners.values()))
    claimed = {d.key: d for d in claim(uow, due)}
    rows = store.open_promises_due(session, t, sorted(claimed))
    changes: list[tuple[str, str]] = []
    announced: list[tuple[DueTimer, EventPayload]] = []
    for r in rows:
        kept = is_kept(r.amount, r.paid_amount)
        changes.append((r.promise_id, "kept" if kept else "broken"))
        kind = PromiseKept if kept else PromiseBroken
        payload = kind(
            promise_id=r.promise_id,
            account_id=r.account_id,
            promised_amount=r.amount,
            paid_amount=r.paid_amount,
            currency=r.currency,
            due_on=r.due_on,
        )
        announced.append((claimed[r.promise_id], payload))
    store.resolve_promises(session, t, changes, now)
    emit_for(uow, announced)


def on_contact_events(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    """``contact.outcome`` and ``contact.opted_out`` of one tenant's batch, set-based."""
    t, session, now = uow.tenant, uow.session, uow.now()
    outcomes: dict[str, tuple[datetime | None, str | None, datetime | None]] = {}
    withdrawn: list[tuple[str, str, datetime]] = []
    opted: dict[tuple[str, str], Envelope] = {}
    for event in events:
        payload = event.payload
        if isinstance(payload, ContactOutcome):
            direct = payload.status in DIRECT_STATUSES
            talk = (payload.channel, payload.status) == CONVERSATION
            if not (direct or talk):
                continue
            seen = outcomes.get(payload.account_id, (None, None, None))
            at = payload.occurred_at
            direct_at, channel = seen[0], seen[1]
            if direct and (direct_at is None or at > direct_at):
                direct_at, channel = at, payload.channel
            conversation_at = max(filter(None, (seen[2], at if talk else None)), default=None)
            outcomes[payload.account_id] = (direct_at, channel, conversation_at)
        elif isinstance(payload, ContactOptedOut):
            withdrawn.append((payload.account_id, payload.channel, payload.occurred_at))
            opted[(payload.account_id, payload.channel)] = event.envelope
    accounts = sorted({*outcomes, *(a for a, _, _ in withdrawn)})
    if not accounts:
        return
    store.lock_accounts(session, t, accounts)
    repository.record_outcomes(session, t, outcomes, now)
    if not withdrawn:
        return
    repository.withdraw_consents(session, t, withdrawn)
    planned = [
        r
        for r in store.planned_on(session, t, sorted(a for a, _ in opted))
        if (r.account_id, r.channel) in opted
    ]
    made: list[Decision] = []
    causes: list[str | None] = []
    for (account_id, channel), envelope in sorted(opted.items()):
        made.append(
            Decision(
                account_id,
                None,
                "suppressed",
                now,
                channel=channel,
                reason=f"opted out of {channel} ({envelope.data.get('source', 'debtor_request')}): consent withdrawn",
                detail={"rule": "consent.opted_out", "occurred_at": envelope.data.get("occurred_at")},
            )
        )
        causes.append(envelope.id)
    for r in planned:
        why = f"opted out of {r.channel}"
        made.append(
            Decision(
                r.account_id,
                None,
                "suppressed",
                now,
                contact_id=r.contact_id,
                channel=r.channel,
                reason=why,
                detail={"rule": "consent.opted_out"},
            )
        )
        causes.append(opted[(r.account_id, r.channel)].id)
    store.set_contacts(
        session, t, [(r.contact_id, "skipped", None, f"opted out of {r.channel}") for r in planned]
    )
    uow.cancel_many(CONTACT_TIMER, [r.contact_id for r in planned])
    store.record(session, t, made, causes=causes)
