"""The in-memory platform: a service waits for what its feeders still have to send; the one-statement relay."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.demo.portfolio import DemoSpec
from libs.platform.demo.stream import generate
from libs.runtime.relay import OutboxRelay
from libs.runtime.transport.base import OutgoingRecord
from libs.runtime.transport.memory import InMemoryPlatform
from tests.faults.harness import invoice_envelope


def portfolio() -> list[Envelope]:
    out = io.StringIO()
    generate(DemoSpec(accounts=12, months=2, seed=5), out)
    events = [Envelope.from_json(line) for line in out.getvalue().splitlines() if line.strip()]
    return sorted(events, key=lambda e: e.time)


def record_calls(platform: InMemoryPlatform) -> list[str]:
    calls: list[str] = []
    for name, processor in platform.processors.items():
        real = processor.process

        def process(records: Sequence[Any], name: str = name, real: Any = real) -> Any:
            calls.append(name)
            return real(list(records))

        processor.process = process  # type: ignore[method-assign]
    return calls


def test_a_service_takes_its_input_after_every_service_feeding_it(make_platform) -> None:
    # declared so that aging (fed by ingest and reconciliation) would go before reconciliation
    platform = make_platform(["ingest", "aging", "reconciliation"])
    events = portfolio()
    half = next(k for k, e in enumerate(events) if e.time.month == 2)  # January, then February
    platform.publish_many(events[:half], Topics.INBOUND)
    platform.run_until_quiet()
    assert platform.feeds["ingest"] == {"aging", "reconciliation"}
    assert platform.feeds["reconciliation"] == {"aging"}  # payments applied, learned on the way

    calls = record_calls(platform)
    platform.publish_many(events[half:], Topics.INBOUND)
    platform.run_until_quiet()

    order = ["ingest", "reconciliation", "aging"]
    assert set(calls) == set(order)
    assert calls == sorted(calls, key=order.index), "a service took input while a feeder still had some"


class Refusing:
    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        return ["MSG_SIZE_TOO_LARGE" for _ in records]


def test_the_in_process_relay_publishes_in_order_or_not_at_all(make_platform) -> None:
    platform = make_platform(["ingest"])
    ctx = platform.context("ingest")
    platform.publish_many(
        [invoice_envelope(n, f"A{n % 3}", width=1, amount="100.00", event_id=f"e{n}") for n in range(1, 8)],
        Topics.INBOUND,
    )
    platform.processors["ingest"].process(platform.broker.read(Topics.INBOUND, 0))
    outbox = ctx.spec.tables.outbox

    def rows() -> list[Any]:
        with ctx.sessions() as session:
            return list(
                session.execute(select(outbox.c.event_id, outbox.c.published_at).order_by(outbox.c.id))
            )

    with pytest.raises(RuntimeError, match="refused"):
        OutboxRelay(ctx, Refusing()).relay_in_process()
    assert all(r.published_at is None for r in rows())

    assert platform.relays["ingest"].relay_in_process(limit=3) == 7  # three rounds of up to 3 rows
    published = [Envelope.from_json(r.value).id for r in platform.broker.read(Topics.INVOICES, 0)]
    assert published == [r.event_id for r in rows()]
    assert all(r.published_at == platform.clock.now() for r in rows())
