"""PostgreSQL stopped for OUTAGE_S seconds under load (10 s here; the issue's 30 s run is
``COBRANZA_FAULT_OUTAGE_S=30 make test-faults``), then started again on the same data directory.

ingest and aging keep running through it: batches fail with the database gone (rewound, retried with
backoff, nothing committed, nothing dead-lettered), the relay's rounds fail and resume. Afterwards:
every invoice applied once, balances equal to what was posted, no dead letter, both processes alive.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.databases import fresh_database
from libs.platform.embedded import EmbeddedPostgres
from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.settings import sqlalchemy_url
from services.aging.adapters.orm import invoices

pytestmark = [pytest.mark.faults, pytest.mark.kafka]
TOTAL = 1500
OUTAGE_S = float(os.environ.get("COBRANZA_FAULT_OUTAGE_S", "10"))


def inbound(n: int) -> Envelope:
    account = f"A{n % 40}"
    return Envelope(
        id=f"inv-{n}",
        source="/core/policy",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject=account,
        data={
            "invoice_id": f"I{n:05d}",
            "account_id": account,
            "customer": {
                "customer_id": f"C-{account}",
                "name": "Ana",
                "kind": "person",
                "country": "CO",
                "timezone": "America/Bogota",
            },
            "amount": "1000.00",
            "currency": "COP",
            "issued_on": "2026-01-05",
            "due_on": "2026-01-20",
            "product_line": "auto",
        },
    )


def database_down(url: str) -> bool:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect():
            return False
    except OperationalError:
        return True
    finally:
        engine.dispose()


def test_postgres_stopped_under_load_loses_and_duplicates_nothing(
    stack, bootstrap, wait_for, tmp_path: Path
) -> None:
    pg = EmbeddedPostgres(tmp_path / "pgdata")
    server = pg.start()
    try:
        name = f"cobranza_fault_{uuid.uuid4().hex[:8]}"
        database = fresh_database(server, [load_spec("ingest"), load_spec("aging")], name)
        run = stack(["ingest", "aging"], bootstrap, database)
        aging = ServiceContext.create(load_spec("aging"), database, pool_size=1)
        ingest = ServiceContext.create(load_spec("ingest"), database, pool_size=1)

        def count(ctx: ServiceContext, query) -> int:  # type: ignore[no-untyped-def]
            with ctx.sessions() as session:
                return int(session.execute(query).scalar_one())

        def applied() -> int:
            return count(aging, select(func.count()).select_from(invoices))

        try:
            processes = [run.start("ingest"), run.start("aging")]
            producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
            for n in range(TOTAL):
                e = inbound(n)
                producer.produce(
                    run.settings.kafka_topic_prefix + Topics.INBOUND,
                    key=e.subject.encode(),
                    value=e.to_json_bytes(),
                )
            assert producer.flush(30) == 0
            wait_for(lambda: applied() > 0, 90, "the first invoices to reach aging", run)

            aging.dispose()
            ingest.dispose()
            pg.stop()
            assert database_down(database)
            threading.Event().wait(OUTAGE_S)  # the outage itself: its length is the fault
            assert pg.start() == server

            wait_for(lambda: applied() >= TOTAL, 240, "every invoice after the outage", run)
            assert all(p.poll() is None for p in processes), "a service exited instead of waiting"
            run.stop_all()

            dead = ingest.spec.tables.outbox
            dead_aging = aging.spec.tables.outbox
            assert applied() == TOTAL
            assert count(aging, select(func.count(func.distinct(invoices.c.invoice_id)))) == TOTAL
            assert count(aging, select(func.sum(invoices.c.amount))) == 1000 * TOTAL
            assert count(aging, select(func.count()).select_from(aging.spec.tables.inbox)) == TOTAL
            assert count(ingest, select(func.count()).select_from(ingest.spec.tables.inbox)) == TOTAL
            for ctx, outbox in ((ingest, dead), (aging, dead_aging)):
                assert count(ctx, select(func.count()).where(outbox.c.topic == Topics.DEAD_LETTER)) == 0
        finally:
            aging.dispose()
            ingest.dispose()
    finally:
        pg.stop()
