"""PostgreSQL stopped for OUTAGE_S seconds under load (30 s; ``COBRANZA_FAULT_OUTAGE_S`` changes it),
then started again on the same data directory, compared with a clean run of the same input.

All seven services keep running through it: batches fail with the database gone (rewound, retried
with backoff, nothing committed, nothing dead-lettered), the relays' and timers' rounds fail and
resume, ingest answers 5xx and the poster sends the chunk again. Afterwards the portfolio ends
exactly as the clean run (``harness.outcome``: balances, payments, contacts, SMS actually sent, KPI
rows, no dead letter) and no service process exited.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from libs.platform.databases import fresh_database
from libs.platform.embedded import EmbeddedPostgres
from libs.platform.registry import SERVICE_NAMES, load_spec
from libs.runtime.settings import sqlalchemy_url
from tests.faults.harness import OUTAGE_S, Fault, differences, handled, run_portfolio, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.timeout(900)]


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
    stack, bootstrap, portfolio, clean_run, tmp_path: Path
) -> None:
    pg = EmbeddedPostgres(tmp_path / "pgdata")
    server = pg.start()
    try:
        name = f"cobranza_fault_{uuid.uuid4().hex[:8]}"
        database = fresh_database(server, [load_spec(s) for s in SERVICE_NAMES], name)
        run = stack(list(SERVICE_NAMES), bootstrap, database)
        progress = handled("strategy")
        invoices = len(portfolio.invoices())

        def strike(s) -> None:  # type: ignore[no-untyped-def]
            start = progress(s)
            wait_for(lambda: progress(s) >= start + invoices // 4, 300, "strategy to be under load", s)
            pg.stop()
            assert database_down(database)
            threading.Event().wait(OUTAGE_S)  # the outage itself: its length is the fault
            assert pg.start() == server

        fault = Fault("invoices", strike)
        got = run_portfolio(run, portfolio, fault=fault)

        assert fault.struck, "the fault never struck"
        exited = [(n, p.returncode) for n, p, _ in run.processes if p.poll() is not None]
        assert not exited, f"services exited instead of waiting for the database: {exited}"
        assert differences(clean_run, got) == {}
    finally:
        pg.stop()
