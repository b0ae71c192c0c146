"""Two timer runners (two replicas) and a consumer over the same accounts: no deadlock, no double booking.

The #8 deadlock: the runner took due timer rows FOR UPDATE, then the promises and contacts they
name, while a consumer batch took accounts, promises, then upserted or deleted those timer rows.
Strategy's timers now fire as batches that lock the accounts first (the consumers' order) and
only then claim the timers: every promise deadline resolves once, every contact is announced
once, and no account gets two contacts on one local day although two replicas fire at once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, text

from libs.events.envelope import Envelope
from libs.events.registry import decode_envelope
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.timers import TimerRunner
from libs.runtime.uow import UnitOfWork
from services.strategy.adapters.orm import accounts, consents, contacts, promises
from services.strategy.domain.book import CONTACT_TIMER, PROMISE_TIMER
from services.strategy.service_layer.handlers import on_events

BOG = ZoneInfo("America/Bogota")
NOW = datetime(2026, 1, 14, 15, tzinfo=UTC)  # Wednesday 10:00 in Bogotá
ACCOUNTS = [f"A{i:03d}" for i in range(60)]


def seed(ctx: ServiceContext) -> None:
    """Per account: an open USD promise past its deadline and two COP e-mails due now, all armed."""
    timers = ctx.spec.tables.timers
    with ctx.sessions() as session, session.begin():
        session.execute(
            insert(accounts),
            [
                {
                    "tenant_id": "default",
                    "account_id": a,
                    "timezone": "America/Bogota",
                    "country": "CO",
                    "updated_at": NOW,
                }
                for a in ACCOUNTS
            ],
        )
        session.execute(
            insert(consents),
            [
                {
                    "tenant_id": "default",
                    "account_id": a,
                    "channel": "email",
                    "consent": True,
                    "updated_at": NOW,
                }
                for a in ACCOUNTS
            ],
        )
        session.execute(
            insert(promises),
            [
                {
                    "tenant_id": "default",
                    "promise_id": f"P-{a}",
                    "account_id": a,
                    "amount": 100,
                    "paid_amount": 0,
                    "currency": "USD",
                    "due_on": date(2026, 1, 13),
                    "made_on": date(2026, 1, 5),
                    "deadline": NOW - timedelta(hours=1),
                    "status": "open",
                }
                for a in ACCOUNTS
            ],
        )
        session.execute(
            insert(contacts),
            [
                {
                    "tenant_id": "default",
                    "contact_id": f"K-{a}-{n}",
                    "account_id": a,
                    "currency": "COP",
                    "channel": "email",
                    "kind": "dunning",
                    "playbook": "default",
                    "step": f"paso_{n}",
                    "template": "aviso_mora",
                    "language": "es",
                    "planned_for": NOW - timedelta(minutes=1),
                    "status": "planned",
                }
                for a in ACCOUNTS
                for n in (1, 2)
            ],
        )
        rows = [(PROMISE_TIMER, f"P-{a}", NOW - timedelta(hours=1)) for a in ACCOUNTS]
        rows += [(CONTACT_TIMER, f"K-{a}-{n}", NOW - timedelta(hours=1)) for a in ACCOUNTS for n in (1, 2)]
        session.execute(
            insert(timers),
            [{"tenant_id": "default", "name": n, "key": k, "fire_at": at, "data": {}} for n, k, at in rows],
        )


def payments(chunk: list[str], round_: int) -> list[Any]:
    out = []
    for a in chunk:
        data = {
            "payment_id": f"Y{round_}-{a}",
            "account_id": a,
            "currency": "USD",
            "amount_applied": "100",
            "allocations": [{"invoice_id": f"I-{a}", "amount": "100", "invoice_open_amount_after": "0"}],
            "credit_created": "0",
            "credit_balance_after": "0",
            "rule": "reference",
            "applied_on": "2026-01-14",
        }
        envelope = Envelope(
            id=f"pay-{round_}-{a}",
            source="/cobranza/reconciliation",
            type="cobranza.payment.applied",
            time=NOW,
            subject=a,
            data=data,
            tenantid="default",
        )
        out.append(decode_envelope(envelope))
    return out


def consume(ctx: ServiceContext, errors: list[BaseException], start: threading.Barrier) -> None:
    """Consumer batches over the same accounts (the last ones first, to cross the runners' order)."""
    start.wait()
    try:
        order = list(reversed(ACCOUNTS))
        for i in range(0, len(order), 5):
            with ctx.sessions() as session, session.begin():
                uow = UnitOfWork(
                    session,
                    service="strategy",
                    tables=ctx.spec.tables,
                    clock=ctx.clock,
                    ids=ctx.ids,
                    tenant="default",
                    extras=ctx.extras,
                    batch=True,
                )
                on_events(payments(order[i : i + 5], 0), uow)
    except BaseException as error:
        errors.append(error)


def fire(runner: TimerRunner, errors: list[BaseException], start: threading.Barrier) -> None:
    start.wait()
    try:
        runner.run_due(NOW)
    except BaseException as error:
        errors.append(error)


def outbox(ctx: ServiceContext, event_type: str) -> list[dict[str, Any]]:
    with ctx.sessions() as session:
        rows = session.execute(
            text("SELECT value FROM strategy.outbox WHERE event_type = :t"), {"t": event_type}
        ).scalars()
        import json

        return [json.loads(bytes(v))["data"] for v in rows]


@pytest.mark.parametrize(("rounds", "batch"), [(4, 3), (2, 50)])
def test_two_replicas_and_a_consumer_never_deadlock_nor_double_book(
    service_database: Callable[[list[str]], str], caplog: pytest.LogCaptureFixture, rounds: int, batch: int
) -> None:
    caplog.set_level(logging.WARNING, logger="libs.runtime.timers")
    for _ in range(rounds):
        url = service_database(["strategy"])
        clock = SimulatedClock(NOW)
        spec = load_spec("strategy")
        replicas = [ServiceContext.create(spec, url, clock=clock, pool_size=3) for _ in range(2)]
        try:
            seed(replicas[0])
            errors: list[BaseException] = []
            start = threading.Barrier(3)
            threads = [
                threading.Thread(target=fire, args=(TimerRunner(ctx, batch_size=batch), errors, start))
                for ctx in replicas
            ]
            threads.append(threading.Thread(target=consume, args=(replicas[1], errors, start)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not any(t.is_alive() for t in threads)
            assert errors == []
            assert [r.getMessage() for r in caplog.records] == []  # no timer batch failed (no deadlock)

            resolved = Counter(
                d["promise_id"]
                for kind in ("cobranza.promise.kept", "cobranza.promise.broken")
                for d in outbox(replicas[0], kind)
            )
            assert resolved == Counter({f"P-{a}": 1 for a in ACCOUNTS})
            due = outbox(replicas[0], "cobranza.contact.due")
            assert Counter(d["contact_id"] for d in due) == Counter(
                {f"K-{a}-{n}": 1 for a in ACCOUNTS for n in (1, 2)}
            )
            days = Counter(
                (d["account_id"], datetime.fromisoformat(d["scheduled_for"]).astimezone(BOG).date())
                for d in due
            )
            assert max(days.values()) == 1  # one contact a day per debtor, although two replicas fired
            with replicas[0].sessions() as session:
                left = session.execute(
                    text("SELECT count(*) FROM strategy.timers WHERE fire_at <= :n"), {"n": NOW}
                )
                assert left.scalar() == 0
        finally:
            for ctx in replicas:
                ctx.dispose()
