"""The simulator in time slices: batch processing gives exactly what one event at a time gives.

Same input, two runs on the same handlers: every waiting record as one batch, and ``batch_size=1``.
Every service's emitted events (per account, in order) and every table's final rows must agree.
Both runs deliver per topic, or (``merged``) each service's topics together in publication order:
batching may not change what one event at a time in the same delivery order gives.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from libs.events.envelope import Envelope
from libs.platform.simulator import INTERNAL_TOPICS, InputEvent, Simulation, day_start, read_events
from libs.runtime.settings import PlatformSettings

REPO = Path(__file__).resolve().parents[3]
START, END = date(2026, 1, 1), date(2026, 6, 30)

Emitted = dict[tuple[str, str], list[str]]
State = dict[str, Counter[str]]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def simulate(
    server: str, events: list[InputEvent], batch_size: int | None, *, merge_topics: bool = False
) -> tuple[Emitted, State, int]:
    sim = Simulation(
        server,
        day_start(START),
        settings=PlatformSettings(database_url=server),
        batch_size=batch_size,
        merge_topics=merge_topics,
    )
    try:
        sim.run(events, day_start(END + timedelta(days=1)) - timedelta(microseconds=1))
        emitted: Emitted = defaultdict(list)
        for published in sim.broker.log:
            if published.record.topic in INTERNAL_TOPICS or published.record.value is None:
                continue
            envelope = json.loads(published.record.value)
            envelope.pop("traceparent", None)
            envelope.pop("tracestate", None)
            emitted[(envelope.get("tenantid", "default"), envelope.get("subject") or "")].append(
                _canonical(envelope)
            )
        state: State = {}
        for ctx in sim.contexts:
            with ctx.sessions() as session:
                for table in ctx.spec.metadata.sorted_tables:
                    serial = table.autoincrement_column
                    columns = [c for c in table.columns if c is not serial]
                    rows = session.execute(select(*columns)).all()
                    state[f"{ctx.name}.{table.name}"] = Counter(_canonical(list(r)) for r in rows)
        batches = len(sim.platform.results)
    finally:
        sim.close()
    return dict(emitted), state, batches


def generated_portfolio(seed: int, accounts: int = 12) -> list[InputEvent]:
    """Two core systems (reusing invoice ids), monthly premiums, payers on time, late, partial and never."""
    rng = random.Random(seed)
    lines: list[dict[str, Any]] = []

    def add(source: str, event_type: str, subject: str, at: datetime, data: dict[str, Any]) -> None:
        lines.append(
            {
                "id": f"{source.rsplit('/', 1)[-1]}-{len(lines)}",
                "source": source,
                "type": event_type,
                "time": at,
                "subject": subject,
                "data": data,
            }
        )

    for n in range(accounts):
        account = f"ACC-{n:03d}"
        source = "/sources/core-vida" if n % 2 else "/sources/core-autos"
        customer = {
            "customer_id": f"CUS-{n:03d}",
            "name": f"Cliente {n}",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        }
        add(
            source,
            "cobranza.customer.upserted",
            account,
            datetime(2026, 1, 2, 14, tzinfo=UTC),
            {
                **customer,
                "account_ids": [account],
                "email": f"c{n}@example.co",
                "contact_points": [{"channel": "email", "value": f"c{n}@example.co", "consent": True}],
            },
        )
        behaviour = rng.choice(["on_time", "late", "partial", "never"])
        amount = rng.choice([120000, 350000, 80000])
        for month in range(1, 5):
            issued = datetime(2026, month, 5, 15, tzinfo=UTC)
            due = date(2026, month, 20)
            add(
                source,
                "cobranza.invoice.issued",
                account,
                issued,
                {
                    "invoice_id": f"INV-{month}-{n // 2}",  # the two systems reuse invoice ids
                    "account_id": account,
                    "customer": customer,
                    "amount": f"{amount}.00",
                    "currency": "COP",
                    "issued_on": issued.date().isoformat(),
                    "due_on": due.isoformat(),
                    "product_line": "vida" if n % 2 else "auto",
                },
            )
            if behaviour == "never":
                continue
            lateness = {"on_time": -2, "late": 25, "partial": 3}[behaviour]
            paid = amount if behaviour != "partial" else amount // 2
            received = due + timedelta(days=lateness)
            add(
                "/sources/bank",
                "cobranza.payment.received",
                account,
                datetime.combine(received, datetime.min.time(), tzinfo=UTC) + timedelta(hours=16),
                {
                    "payment_id": f"PAY-{n:03d}-{month}",
                    "account_id": account,
                    "amount": f"{paid}.00",
                    "currency": "COP",
                    "received_on": received.isoformat(),
                    "method": rng.choice(["pse", "transferencia", "nequi"]),
                },
            )
    events = [
        InputEvent(i + 1, Envelope.model_validate({"specversion": "1.0", **line}))
        for i, line in enumerate(lines)
    ]
    events.sort(key=lambda e: (e.envelope.time, e.line))
    return events


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["per_topic", "merged"])
@pytest.mark.parametrize("portfolio", ["examples", "generated"])
def test_batched_and_one_by_one_simulations_agree(pg_server: str, portfolio: str, delivery: str) -> None:
    events = (
        read_events(REPO / "examples" / "portfolio.jsonl")
        if portfolio == "examples"
        else generated_portfolio(7)
    )
    batched = simulate(pg_server, events, batch_size=None, merge_topics=delivery == "merged")
    one_by_one = simulate(pg_server, events, batch_size=1, merge_topics=delivery == "merged")

    assert batched[0], "the simulation emitted nothing"
    assert batched[2] < one_by_one[2], "batched delivery should need fewer batches"
    assert batched[0].keys() == one_by_one[0].keys()
    for account, sequence in batched[0].items():
        assert sequence == one_by_one[0][account], f"emitted events of {account} differ"
    assert batched[1].keys() == one_by_one[1].keys()
    for table, rows in batched[1].items():
        assert rows == one_by_one[1][table], f"final rows of {table} differ"
