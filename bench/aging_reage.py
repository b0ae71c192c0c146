"""Benchmark: aging's nightly set-based re-age over a portfolio of open invoices.

    .venv/bin/python bench/aging_reage.py [--invoices 1000000] [--per-account 3]

Loads the invoices with one INSERT … SELECT generate_series (one timezone, due
dates spread over the last 420 days and the next 30), then times:
  1. the first pass (every overdue account leaves ``current``: the worst case),
  2. a normal night (every overdue invoice and account gains a day; only
     accounts crossing an edge change bucket and emit an event),
each as the timer handler runs it, timing the SQL re-age and the emission (outbox rows) apart.
Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from libs.platform.databases import fresh_database
from libs.platform.embedded import EmbeddedPostgres
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.uow import UnitOfWork
from services.aging.adapters.orm import account_state
from services.aging.adapters.repository import Scope, reage
from services.aging.config import load_scheme
from services.aging.domain.rules import local_midnight, next_local_midnight
from services.aging.service import SPEC
from services.aging.service_layer.handlers import MIDNIGHT_TIMER, publish, timer_key

TZ = "America/Bogota"
LOAD_DAY = datetime(2026, 6, 1, tzinfo=UTC).date()


def load(ctx: ServiceContext, invoices: int, per_account: int) -> float:
    started = time.perf_counter()
    with ctx.sessions() as session, session.begin():
        session.execute(
            text(
                """
                INSERT INTO aging.invoices (tenant_id, invoice_id, account_id, amount, open_amount, currency,
                    due_on, timezone, product_line, policy_number, grace_days, status, dpd, updated_at)
                SELECT 'default', 'INV' || g, 'ACC' || (g / :per), 100000 + (g % 997),
                       CASE WHEN g % 5 = 0 THEN 40000 ELSE 100000 + (g % 997) END, 'COP',
                       CAST(:day AS date) - ((g::bigint * 7919) % 450)::int + 30, :tz,
                       CASE WHEN g % 4 = 0 THEN 'vida' ELSE 'cumplimiento' END,
                       CASE WHEN g % 4 = 0 THEN 'POL' || g END,
                       CASE WHEN g % 4 = 0 THEN 30 END, 'open', 0, :at
                  FROM generate_series(1, :n) AS g
                """
            ),
            {"per": per_account, "day": LOAD_DAY, "tz": TZ, "n": invoices, "at": ctx.clock.now()},
        )
        session.execute(
            text(
                """
                INSERT INTO aging.account_state (tenant_id, account_id, currency, timezone, bucket, dpd,
                    overdue_amount, bucket_since, updated_at)
                SELECT DISTINCT tenant_id, account_id, 'COP', :tz, 'current', 0, 0, CAST(:day AS date), :at
                  FROM aging.invoices
                """
            ),
            {"tz": TZ, "day": LOAD_DAY, "at": ctx.clock.now()},
        )
    with ctx.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def night(ctx: ServiceContext, clock: SimulatedClock, day_offset: int) -> tuple[float, float, int]:
    """One nightly pass as ``on_midnight`` runs it, timing the SQL re-age and the event emission apart."""
    at = local_midnight(LOAD_DAY + timedelta(days=day_offset), TZ)
    clock.advance_to(at)
    with ctx.sessions() as session, session.begin():
        uow = UnitOfWork(
            session,
            service="aging",
            tables=SPEC.tables,
            clock=clock,
            ids=ctx.ids,
            cause_key=f"bench:{at.isoformat()}",
        )
        started = time.perf_counter()
        result = reage(session, Scope("default", timezone=TZ), load_scheme(None), uow.now())
        session.flush()
        sql = time.perf_counter() - started
        publish(result, uow)
        uow.schedule(MIDNIGHT_TIMER, timer_key("default", TZ), next_local_midnight(uow.now(), TZ))
        session.flush()
        emit = time.perf_counter() - started - sql
        return sql, emit, len(uow.emitted)


def run(server: str, invoices: int, per_account: int) -> None:
    name = f"cobranza_bench_aging_{os.getpid()}"
    url = fresh_database(server, [SPEC], name)
    clock = SimulatedClock(local_midnight(LOAD_DAY, TZ) - timedelta(hours=1))
    ctx = ServiceContext.create(SPEC, url, clock=clock)
    try:
        seconds = load(ctx, invoices, per_account)
        with ctx.sessions() as session:
            accounts = session.execute(select(func.count()).select_from(account_state)).scalar_one()
        print(f"loaded {invoices:,} open invoices / {accounts:,} accounts in {seconds:.1f} s")
        for label, offset in (("first pass (all leave current)", 0), ("next night", 1), ("night after", 2)):
            sql, emit, emitted = night(ctx, clock, offset)
            print(
                f"{label}: SQL re-age {sql:.1f} s ({invoices / sql:,.0f} invoices/s), "
                f"emitting {emitted:,} events (account.aged + policy.*) {emit:.1f} s"
            )
    finally:
        ctx.dispose()
        drop_database(server, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--per-account", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if url:
        run(url, args.invoices, args.per_account)
        return
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cobranza-bench-")) / "pgdata", ephemeral=True)
    server = pg.start()
    try:
        run(server, args.invoices, args.per_account)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
