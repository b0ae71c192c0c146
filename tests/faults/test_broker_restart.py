"""The embedded broker restarted without its log while the platform runs: nothing lost, nothing twice.

ingest forwards invoices (its outbox marks them published), the broker is killed before aging ever read
them, ``cobranza up``'s watch starts a fresh broker on the same port, recreates the topics and queues the
retained outboxes again; aging, started after, applies every invoice once and ingest, which kept running
across the restart, publishes through the new broker.
"""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import func, select

from libs.events.catalog import Topics
from libs.platform.registry import load_spec
from libs.platform.supervisor import Supervisor
from libs.runtime.context import ServiceContext
from services.aging.adapters.orm import invoices
from tests.faults.harness import count, produce
from tests.faults.harness import invoice_envelope as inbound

pytestmark = [pytest.mark.faults, pytest.mark.kafka]
TOTAL = 300


def test_broker_restarted_without_its_log_loses_and_duplicates_nothing(stack, tansu, wait_for) -> None:
    run = stack(["ingest", "aging"], tansu.bootstrap)
    ingest = ServiceContext.create(load_spec("ingest"), run.database, pool_size=1)
    aging = ServiceContext.create(load_spec("aging"), run.database, pool_size=1)
    outbox = ingest.spec.tables.outbox
    try:
        run.start("ingest")
        produce(
            tansu.bootstrap,
            run.settings.kafka_topic_prefix + Topics.INBOUND,
            [inbound(n) for n in range(TOTAL)],
        )
        published = select(func.count()).where(outbox.c.published_at.is_not(None))
        wait_for(lambda: count(ingest, published) >= TOTAL, 90, "ingest to forward every invoice", run)

        assert tansu.process is not None
        tansu.process.send_signal(signal.SIGKILL)  # before any consumer of the invoices read them
        tansu.process.wait(10)
        supervisor = Supervisor(run.settings, ["ingest", "aging"])
        supervisor.kafka = tansu
        supervisor._broker_died(run.database)  # what `cobranza up` does when its broker exits

        run.start("aging")
        wait_for(
            lambda: count(aging, select(func.count()).select_from(invoices)) >= TOTAL,
            120,
            "aging to apply every invoice",
            run,
        )
        # more is posted after the restart, through the same ingest process
        produce(
            tansu.bootstrap,
            run.settings.kafka_topic_prefix + Topics.INBOUND,
            [inbound(n) for n in range(TOTAL, TOTAL + 20)],
        )
        wait_for(
            lambda: count(aging, select(func.count()).select_from(invoices)) >= TOTAL + 20,
            90,
            "aging to apply what came after the restart",
            run,
        )
        run.stop_all()

        aging_inbox = aging.spec.tables.inbox
        ingest_inbox = ingest.spec.tables.inbox
        assert count(aging, select(func.count()).select_from(invoices)) == TOTAL + 20
        assert count(aging, select(func.count(func.distinct(invoices.c.invoice_id)))) == TOTAL + 20
        assert count(aging, select(func.count()).select_from(aging_inbox)) == TOTAL + 20
        assert count(ingest, select(func.count()).select_from(ingest_inbox)) == TOTAL + 20
        assert count(aging, select(func.sum(invoices.c.amount))) == 1000 * (TOTAL + 20)
    finally:
        ingest.dispose()
        aging.dispose()
