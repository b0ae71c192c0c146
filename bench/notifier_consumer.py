"""Benchmark: notifier's consumer, straight through ``EventProcessor.process`` on a real PostgreSQL.

    .venv/bin/python bench/notifier_consumer.py [--sizes 1000 10000 100000] [--batch 500]

Feeds N synthetic contract events (six per account, interleaved as the topics carry them: the
customer with consented e-mail and SMS, an invoice, then contacts due now by e-mail, SMS and voice
and one due tomorrow) in poll batches of ``--batch`` records, on a fresh database per size, with
the file providers writing under a temporary state directory, and reports events/s and CPU µs
per event against the no-op runtime in the same run (the harness is bench/consumer_harness.py).
Then, per size, the ``deliver`` timers: the same records fed untimed on a fresh database, the
clock moved a day on, and the CPU µs per timer of firing every due one (the contacts due
tomorrow, one in six records). To measure another checkout's handlers, run this file with
``PYTHONPATH=<checkout>``.
Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import timedelta
from typing import Any

from consumer_harness import (
    START,
    Scenario,
    customer_of,
    feed,
    main,
    parse_args,
    postgres,
    records,
    standard_columns,
)

from libs.platform.databases import fresh_database
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database
from libs.runtime.processor import EventProcessor
from libs.runtime.timers import TimerRunner
from libs.runtime.transport.base import Record


def _scenario(n: int) -> Scenario:
    account, customer_id = f"ACC-{n:07d}", f"CUS-{n:07d}"
    customer = customer_of(n)

    def due(
        contact: str, channel: str, template: str, later: bool = False
    ) -> tuple[str, str, dict[str, Any]]:
        at = START + (timedelta(days=1) if later else timedelta(0))
        data = {
            "contact_id": f"{contact}-{n}",
            "account_id": account,
            "channel": channel,
            "scheduled_for": at.isoformat(),
            "strategy": "default",
            "step": template,
            "template": template,
        }
        return "cobranza.contact.due", account, data

    return [
        (
            "cobranza.customer.upserted",
            customer_id,
            {
                **customer,
                "account_ids": [account],
                "contact_points": [
                    {"channel": "email", "value": f"c{n}@example.co", "consent": True},
                    {"channel": "sms", "value": f"+57300{n:07d}", "consent": True},
                ],
            },
        ),
        (
            "cobranza.invoice.issued",
            account,
            {
                "invoice_id": f"INV-{n}",
                "account_id": account,
                "customer": {**customer, "phone": f"+57310{n:07d}"},
                "amount": "120000.00",
                "currency": "COP",
                "issued_on": "2026-02-01",
                "due_on": "2026-02-25",
                "product_line": "auto",
            },
        ),
        due("E", "email", "aviso_mora"),
        due("S", "sms", "sms_mora"),
        due("V", "voice", "guion_llamada"),
        due("F", "email", "recordatorio_previo", later=True),
    ]


def notifier_records(total: int) -> list[Record]:
    return records(total, _scenario)


def deliver_timers(server: str, size: int, batch_size: int) -> None:
    """Fire the ``deliver`` timers the records armed, a day later: timers fired and CPU µs per timer."""
    spec = load_spec("notifier")
    name = f"bench_notifier_t_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = fresh_database(server, [spec], name)
    clock = SimulatedClock(START + timedelta(minutes=1))
    ctx = ServiceContext.create(spec, url, clock=clock)
    try:
        feed(EventProcessor(ctx), notifier_records(size), batch_size)
        clock.advance_to(START + timedelta(days=1, minutes=1))
        wall, cpu = time.perf_counter(), time.process_time()
        fired = TimerRunner(ctx).run_due()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ctx.dispose()
        drop_database(server, name)
    print(
        f"  deliver timers after {size:,} events: {fired:,} fired in {wall:.2f} s, "
        f"{cpu / max(fired, 1) * 1e6:,.0f} CPU µs/timer",
        flush=True,
    )


if __name__ == "__main__":
    os.environ["COBRANZA_NOTIFIER_STATE_DIR"] = tempfile.mkdtemp(prefix="cobranza-bench-notifier-")
    for name in ("SMTP_HOST", "SMS_HTTP_URL", "WHATSAPP_HTTP_URL"):
        os.environ.pop(f"COBRANZA_NOTIFIER_{name}", None)
    main(__doc__, "notifier", notifier_records, standard_columns("ev/s", emitted=True))
    args = parse_args(__doc__)
    with postgres() as server:
        for size in args.sizes:
            deliver_timers(server, size, args.batch)
