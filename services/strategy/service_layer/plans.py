"""Payment plans (acuerdos de pago): agreed, paid from reconciliation's allocations, missed, broken, completed.

``on_events`` takes a batch of one tenant (``plan.agreed``, ``payment.applied``,
``payment.reversal_applied``), one statement per table: new plans are stored with the debtor's
zone and country, each instalment's end of due date is armed (``PLAN_DUE_TIMER``) and its
reminders are written as ``plan_reminder`` rows of ``strategy.contacts`` armed on the contact
timer (so the contact policy's firing code applies consent and the legal hours). A payment applied
to a plan's (account, currency) on or after ``agreed_on`` (``amount_applied + credit_created``)
is recorded against the plan; a reversal marks it reversed (``domain/plans.evaluate`` takes back
exactly what it paid). A plan that is fully paid, principal and late interest, is completed.

``PLAN_DUE_TIMER`` fires at the end of a due date in the debtor's zone: unpaid → ``plan.instalment_missed``
and the grace timer (``PLAN_GRACE_TIMER``, ``grace_days`` of ``config/usury.yaml``); still unpaid
then → ``plan.broken``. ``on_strategy_events`` composes treatment's handler and this one, so each
type has one registered batch handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from libs.events.payloads.allocations import PaymentApplied, PaymentReversalApplied
from libs.events.payloads.base import EventPayload
from libs.events.payloads.treatment import PlanAgreed, PlanBroken, PlanCompleted, PlanInstalmentMissed
from libs.events.registry import DecodedEvent
from libs.runtime.timers import claim, emit_for
from libs.runtime.uow import DueTimer, UnitOfWork
from services.strategy.adapters import decisions
from services.strategy.adapters import plans_repository as repo
from services.strategy.adapters.orm import contacts
from services.strategy.config import strategy_config
from services.strategy.domain.book import CONTACT_TIMER, contact_key
from services.strategy.domain.decisions import Decision
from services.strategy.domain.plans import PlanState, PlanTerms, evaluate, schedule
from services.strategy.service_layer import handlers

__all__ = [
    "CONSUMES",
    "PLAN_DUE_TIMER",
    "PLAN_GRACE_TIMER",
    "end_of_day",
    "on_due",
    "on_events",
    "on_grace",
    "on_strategy_events",
    "state_of",
]

PLAN_DUE_TIMER = "plan_due"
PLAN_GRACE_TIMER = "plan_grace"
CONSUMES: tuple[str, ...] = (
    "cobranza.plan.agreed",
    "cobranza.payment.applied",
    "cobranza.payment.reversal_applied",
)


def end_of_day(day: date, zone: str) -> datetime:
    """The instant ``day`` ends in ``zone`` (midnight of the next day there)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))


def _key(plan_id: str, number: int) -> str:
    return f"{plan_id}#{number}"


def _parse(key: str) -> tuple[str, int]:
    plan_id, _, number = key.rpartition("#")
    return plan_id, int(number)


def state_of(
    session: Any,
    tenant: str,
    rows: Sequence[Mapping[str, Any]],
    extras: Mapping[str, Any],
    as_of: Mapping[str, date],
) -> dict[str, PlanState]:
    """Each plan evaluated as of its date in ``as_of`` (movements and caps read once)."""
    ids = [r["plan_id"] for r in rows]
    moves = repo.movements_of(session, tenant, ids)
    caps = repo.caps_for(session, tenant, [r["country"] for r in rows], repo.usury_settings(extras))
    return {
        r["plan_id"]: evaluate(
            repo.terms_of(r), moves.get(r["plan_id"], []), caps.get(r["country"], []), as_of[r["plan_id"]]
        )
        for r in rows
    }


def _today(row: Mapping[str, Any], now: datetime) -> date:
    return now.astimezone(ZoneInfo(row["timezone"])).date()


def on_strategy_events(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    """Treatment's handler, then the plans', on the same batch and unit of work."""
    handlers.on_events(events, uow)
    on_events(events, uow)


def on_events(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    tenant, now, session = uow.tenant, uow.now(), uow.session
    agreed = [e for e in events if isinstance(e.payload, PlanAgreed)]
    applied = [e for e in events if isinstance(e.payload, PaymentApplied)]
    reversed_ = [e for e in events if isinstance(e.payload, PaymentReversalApplied) and e.payload.account_id]
    if agreed:
        _agree(agreed, uow)
    touched: set[str] = set()
    # by type, not ``e in reversed_``: that compared whole events (pydantic ``__eq__``), n² a batch
    moving = [
        e
        for e in events
        if isinstance(e.payload, PaymentApplied)
        or (isinstance(e.payload, PaymentReversalApplied) and e.payload.account_id)
    ]
    if moving:
        plans = repo.plans_of_accounts(session, tenant, [e.payload.account_id for e in applied])
        paid_by = repo.plans_paid_by(session, tenant, [e.payload.payment_id for e in reversed_])
        rows: list[dict[str, Any]] = []
        for event in moving:
            p = event.payload
            if isinstance(p, PaymentApplied):
                amount = p.amount_applied + p.credit_created
                for plan in plans:
                    same = (plan["account_id"], plan["currency"]) == (p.account_id, p.currency)
                    if same and p.applied_on >= plan["agreed_on"] and amount > 0:
                        rows.append(
                            _movement(tenant, plan["plan_id"], p.payment_id, "payment", p.applied_on, amount)
                        )
                        paid_by[p.payment_id].add(plan["plan_id"])
            else:
                for plan_id in sorted(paid_by.get(p.payment_id, ())):
                    rows.append(
                        _movement(tenant, plan_id, p.payment_id, "reversal", p.reversed_on, Decimal(0))
                    )
        touched = {r["plan_id"] for r in rows}
        repo.add_movements(session, rows)
    if not touched:
        return
    rows_by_id = {
        k: v for k, v in repo.load_plans(session, tenant, touched).items() if v["status"] == "active"
    }
    latest = max(e.envelope.time for e in events)
    states = state_of(
        session,
        tenant,
        list(rows_by_id.values()),
        uow.extras,
        {k: _today(v, now) for k, v in rows_by_id.items()},
    )
    cause = {e.payload.account_id: e for e in [*applied, *reversed_]}
    completed: dict[str, tuple[str, date | None]] = {}
    payloads: list[EventPayload] = []
    envelopes = []
    logged: list[Decision] = []
    for plan_id, state in sorted(states.items()):
        if not state.settled:
            continue
        row = rows_by_id[plan_id]
        on = max(line.paid_on or row["agreed_on"] for line in state.lines)
        completed[plan_id] = ("completed", on)
        payloads.append(
            PlanCompleted(
                plan_id=plan_id,
                account_id=row["account_id"],
                currency=row["currency"],
                amount_paid=state.amount_paid,
                late_interest_paid=state.late_interest_paid,
                completed_on=on,
            )
        )
        envelopes.append(cause[row["account_id"]].envelope)
        logged.append(
            Decision(
                row["account_id"],
                row["currency"],
                "plan",
                latest,
                reason="completed",
                detail={"plan_id": plan_id},
            )
        )
    repo.set_status(session, tenant, completed)
    _drop_plan(uow, states, sorted(completed), "completed")
    uow.emit_many(payloads, causes=envelopes)
    decisions.record(session, tenant, logged, causes=[e.id for e in envelopes])


_CANCEL_REMINDERS = text(
    """
    UPDATE strategy.contacts SET status = 'cancelled', reason = :reason
    WHERE tenant_id = :tenant AND contact_id = ANY(CAST(:ids AS text[]))
      AND kind = 'plan_reminder' AND status = 'planned'
    """
)


def _drop_plan(
    uow: UnitOfWork, states: Mapping[str, PlanState], plan_ids: Sequence[str], reason: str
) -> None:
    """A plan that ended: its instalment timers and its pending reminders go (one statement each)."""
    if not plan_ids:
        return
    settings = repo.usury_settings(uow.extras)
    days = [int(d) for d in settings.get("reminder_days", [3])]
    channels = [str(c) for c in settings.get("reminder_channels", ["sms"])]
    keys = [_key(p, x.line.number) for p in plan_ids for x in states[p].lines]
    reminders = [
        contact_key(p, str(x.line.number), f"{before}d", channel)
        for p in plan_ids
        for x in states[p].lines
        for before in days
        for channel in channels
    ]
    uow.cancel_many(PLAN_DUE_TIMER, keys)
    uow.cancel_many(PLAN_GRACE_TIMER, keys)
    uow.cancel_many(CONTACT_TIMER, reminders)
    uow.session.execute(
        _CANCEL_REMINDERS, {"tenant": uow.tenant, "ids": reminders, "reason": f"plan {reason}"}
    )


def _movement(
    tenant: str, plan_id: str, payment_id: str, kind: str, on: date, amount: Decimal
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "plan_id": plan_id,
        "payment_id": payment_id,
        "kind": kind,
        "on": on,
        "amount": amount,
    }


def _agree(events: Sequence[DecodedEvent[Any]], uow: UnitOfWork) -> None:
    tenant, now, session = uow.tenant, uow.now(), uow.session
    zones = repo.zones_of(session, tenant, [e.payload.account_id for e in events])
    default_zone = strategy_config(uow.extras).default_timezone
    settings = repo.usury_settings(uow.extras)
    rows: list[dict[str, Any]] = []
    for event in events:
        p: PlanAgreed = event.payload
        zone, country = zones.get(p.account_id, (None, None))
        rows.append(
            {
                "tenant_id": tenant,
                "plan_id": p.plan_id,
                "account_id": p.account_id,
                "currency": p.currency,
                "amount": p.amount,
                "down_payment": p.down_payment,
                "instalments": p.instalments,
                "frequency": p.frequency,
                "first_due_on": p.first_due_on,
                "agreed_on": p.agreed_on,
                "financing_rate": p.financing_rate,
                "late_interest_rate": p.late_interest_rate,
                "agent_id": p.agent_id,
                "country": country,
                "timezone": zone or default_zone,
                "status": "active",
                "resolved_on": None,
                "created_at": now,
            }
        )
    new = repo.insert_plans(session, rows)
    due: list[tuple[str, datetime]] = []
    reminders: list[dict[str, Any]] = []
    logged: list[Decision] = []
    causes: list[str] = []
    days = [int(d) for d in settings.get("reminder_days", [3])]
    channels = [str(c) for c in settings.get("reminder_channels", ["sms"])]
    for event, row in zip(events, rows, strict=True):
        if row["plan_id"] not in new:
            continue
        new.discard(row["plan_id"])  # a plan id repeated in the batch is stored once
        local = ZoneInfo(row["timezone"])
        lines = schedule(repo.terms_of(row))
        for line in lines:
            due.append((_key(row["plan_id"], line.number), end_of_day(line.due_on, row["timezone"])))
            for before in days:
                at = datetime.combine(line.due_on - timedelta(days=before), time(9), tzinfo=local)
                if at <= now:
                    continue
                for channel in channels:
                    contact_id = contact_key(row["plan_id"], str(line.number), f"{before}d", channel)
                    reminders.append(
                        {
                            "tenant_id": tenant,
                            "contact_id": contact_id,
                            "account_id": row["account_id"],
                            "currency": row["currency"],
                            "channel": channel,
                            "kind": "plan_reminder",
                            "playbook": "plan",
                            "step": f"instalment-{line.number}-{before}d",
                            "template": "plan_reminder",
                            "language": "es",
                            "planned_for": at,
                            "scheduled_for": None,
                            "status": "planned",
                            "reason": None,
                            "strategy_version": None,
                        }
                    )
        logged.append(
            Decision(
                row["account_id"],
                row["currency"],
                "plan",
                event.envelope.time,
                reason="agreed",
                detail={"plan_id": row["plan_id"], "instalments": len(lines)},
                actor=row["agent_id"],
            )
        )
        causes.append(event.envelope.id)
    if reminders:
        session.execute(insert(contacts).values(reminders).on_conflict_do_nothing())
        uow.schedule_many(CONTACT_TIMER, [(r["contact_id"], r["planned_for"]) for r in reminders])
    uow.schedule_many(PLAN_DUE_TIMER, due)
    decisions.record(session, tenant, logged, causes=causes)


def _fire(due: Sequence[DueTimer], uow: UnitOfWork, grace: bool) -> None:
    if not due:
        return
    tenant, session = due[0].tenant, uow.session
    keys = {d.key: _parse(d.key) for d in due}
    rows = repo.load_plans(session, tenant, {plan_id for plan_id, _ in keys.values()})
    mine = claim(uow, list(due))
    settings = repo.usury_settings(uow.extras)
    grace_days = int(settings.get("grace_days", 10))
    live = [d for d in mine if rows.get(keys[d.key][0], {}).get("status") == "active"]
    if not live:
        return
    as_of: dict[str, date] = {}
    for d in live:
        plan_id, number = keys[d.key]
        terms: PlanTerms = repo.terms_of(rows[plan_id])
        line_due = next(x.due_on for x in schedule(terms) if x.number == number)
        on = line_due + timedelta(days=grace_days) if grace else line_due
        as_of[plan_id] = max(as_of.get(plan_id, on), on)
    states = state_of(session, tenant, [rows[p] for p in as_of], uow.extras, as_of)
    items: list[tuple[DueTimer, EventPayload]] = []
    arm: list[tuple[str, datetime]] = []
    broken: dict[str, tuple[str, date | None]] = {}
    logged: list[Decision] = []
    for d in live:
        plan_id, number = keys[d.key]
        if plan_id in broken:
            continue
        row, state = rows[plan_id], states[plan_id]
        line = state.line(number)
        if line.unpaid <= 0:
            continue
        if not grace:
            items.append(
                (
                    d,
                    PlanInstalmentMissed(
                        plan_id=plan_id,
                        account_id=row["account_id"],
                        currency=row["currency"],
                        instalment=number,
                        due_on=line.line.due_on,
                        amount_due=line.line.amount_due,
                        amount_paid=state.money(line.paid),
                        outstanding=state.money(line.unpaid),
                    ),
                )
            )
            arm.append((d.key, end_of_day(line.line.due_on + timedelta(days=grace_days), row["timezone"])))
            reason = "instalment_missed"
        else:
            broken_on = line.line.due_on + timedelta(days=grace_days)
            broken[plan_id] = ("broken", broken_on)
            items.append(
                (
                    d,
                    PlanBroken(
                        plan_id=plan_id,
                        account_id=row["account_id"],
                        currency=row["currency"],
                        instalment=number,
                        due_on=line.line.due_on,
                        grace_days=grace_days,
                        broken_on=broken_on,
                        outstanding=state.outstanding,
                        late_interest=state.late_interest_due,
                    ),
                )
            )
            reason = "broken"
        logged.append(
            Decision(
                row["account_id"],
                row["currency"],
                "plan",
                d.fire_at,
                reason=reason,
                detail={
                    "plan_id": plan_id,
                    "instalment": number,
                    "outstanding": str(state.money(line.unpaid)),
                },
            )
        )
    repo.set_status(session, tenant, broken)
    _drop_plan(uow, states, sorted(broken), "broken")
    uow.schedule_many(PLAN_GRACE_TIMER, arm)
    envelopes = emit_for(uow, items)
    decisions.record(session, tenant, logged, causes=[e.id for e in envelopes])


def on_due(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
    """End of an instalment's due date: ``plan.instalment_missed`` when it is not paid in full."""
    _fire(due, uow, grace=False)


def on_grace(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
    """End of the grace after a missed instalment: ``plan.broken`` when it is still unpaid."""
    _fire(due, uow, grace=True)
