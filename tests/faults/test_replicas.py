"""Two replicas of aging under load, a rebalance in the middle, then one of them killed with -9.

Compared with a clean run of the same input (the in-memory platform, no faults, its clock at now): the
same invoices and balances, every event handled exactly once (inbox rows: one per event handled, an
event applied twice would need two), and the same (type, account) pairs emitted (aging's
``account.aged`` is one per account per batch, so how many depends on batching, not on faults).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from services.aging.adapters.orm import invoices
from tests.faults.harness import invoice_envelope, produce

pytestmark = [pytest.mark.faults, pytest.mark.kafka]
TOTAL = 2000


def invoice(n: int) -> Envelope:
    return invoice_envelope(n, width=5, accounts=50, amount=f"{1000 + n}.50")


def state(ctx: ServiceContext) -> tuple[list[tuple[object, ...]], set[tuple[str, str | None]], int]:
    outbox = ctx.spec.tables.outbox
    inbox = ctx.spec.tables.inbox
    with ctx.sessions() as session:
        rows = [
            tuple(r)
            for r in session.execute(
                select(
                    invoices.c.invoice_id, invoices.c.account_id, invoices.c.amount, invoices.c.open_amount
                ).order_by(invoices.c.invoice_id)
            )
        ]
        emitted = {(r.event_type, r.key) for r in session.execute(select(outbox.c.event_type, outbox.c.key))}
        handled = int(session.execute(select(func.count()).select_from(inbox)).scalar_one())
    return rows, emitted, handled


def test_two_replicas_a_rebalance_and_a_kill_lose_and_duplicate_nothing(
    stack, bootstrap, wait_for, make_platform, clock
) -> None:
    envelopes = [invoice(n) for n in range(TOTAL)]
    envelopes += envelopes[500:700]  # the core system retried a slice (same ids)

    clock.advance_to(datetime.now(UTC))  # aging ages by the clock: the clean run's is the real one's
    clean = make_platform(["aging"])
    clean.publish_many(envelopes, Topics.INVOICES)
    clean.run_until_quiet()
    expected = state(clean.context("aging"))
    assert len(expected[0]) == TOTAL and expected[2] == TOTAL and expected[1]

    run = stack(["aging"], bootstrap)
    produce(bootstrap, run.settings.kafka_topic_prefix + Topics.INVOICES, envelopes)
    aging = ServiceContext.create(load_spec("aging"), run.database, pool_size=1)

    def applied() -> int:
        with aging.sessions() as session:
            return int(session.execute(select(func.count()).select_from(invoices)).scalar_one())

    try:
        first = run.start("aging")
        wait_for(lambda: applied() > 0, 60, "the first replica's first batch", run)
        run.start("aging")  # the group rebalances: partitions move to the second replica mid-stream
        wait_for(lambda: applied() > TOTAL * 0.4, 120, "both replicas to make progress", run)
        run.kill(first)  # kill -9 with a batch in flight: its partitions go to the survivor
        killed_at = applied()
        assert killed_at < TOTAL, "the replicas finished before the kill; raise TOTAL"
        wait_for(lambda: applied() >= TOTAL, 180, "the survivor to apply everything", run)
        run.stop_all()

        assert state(aging) == expected
    finally:
        aging.dispose()
