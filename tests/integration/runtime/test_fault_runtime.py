"""Runtime faults on the in-memory transport and a real PostgreSQL: relay, retries, transient errors.

The relay killed between publish and mark, a row the broker refuses (parked, the rest flows), a broker
outage (nothing parked), no transaction open while the broker flushes; handler retries with backoff
that keep an account's order; database outages that never count toward a dead letter.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.processor import InfrastructureError, _is_infrastructure
from libs.runtime.relay import OUTBOX_PARKED, OutboxRelay, republish_retained
from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.base import OutgoingRecord, PublishError
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker
from services.aging.adapters.orm import invoices
from services.notifier.service_layer import handlers as notifier_handlers
from tests.faults.harness import invoice_envelope

INVOICE_TYPE = "cobranza.invoice.issued"


def invoice(n: int, account: str = "A1") -> Envelope:
    return invoice_envelope(n, account, width=1, amount="100000.00", event_id=f"e{n}")


def aging_invoices(platform: InMemoryPlatform) -> list[str]:
    with platform.context("aging").sessions() as session:
        return sorted(session.execute(select(invoices.c.invoice_id)).scalars())


def outbox_rows(platform: InMemoryPlatform, service: str) -> list[Any]:
    ctx = platform.context(service)
    outbox = ctx.spec.tables.outbox
    with ctx.sessions() as session:
        return list(
            session.execute(
                select(outbox.c.id, outbox.c.published_at, outbox.c.attempts, outbox.c.last_error).order_by(
                    outbox.c.id
                )
            ).all()
        )


class ScriptedPublisher:
    """Forwards to a broker, except the records ``fail`` answers an error for."""

    def __init__(self, broker: MemoryBroker, fail: Callable[[OutgoingRecord], str | None]) -> None:
        self.broker = broker
        self.fail = fail
        self.calls = 0

    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        self.calls += 1
        errors: list[str | None] = []
        for r in records:
            error = self.fail(r)
            if error is None:
                errors.extend(self.broker.publish([r]))
            else:
                errors.append(error)
        return errors


class Killed(BaseException):
    """The relay process died (kill -9): nothing after this line of the relay runs."""


def emitted(platform: InMemoryPlatform, service: str) -> Counter[tuple[str, str | None]]:
    """What SERVICE emitted, (type, key) counted: an event handled twice would emit twice."""
    outbox = platform.context(service).spec.tables.outbox
    with platform.context(service).sessions() as session:
        return Counter(
            (r.event_type, r.key) for r in session.execute(select(outbox.c.event_type, outbox.c.key))
        )


def test_relay_killed_between_publish_and_mark_applies_everything_once(make_platform) -> None:
    envelopes = [invoice(n, f"A{n}") for n in range(1, 6)]
    clean = make_platform(["ingest", "aging"])
    clean.publish_many(envelopes, Topics.INBOUND)
    clean.run_until_quiet()
    platform = make_platform(["ingest", "aging"])
    platform.publish_many(envelopes, Topics.INBOUND)
    broker = platform.broker
    relay = platform.relays["ingest"]

    class DiesAfterPublish:
        def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
            broker.publish(records)
            raise Killed

    relay.publisher = DiesAfterPublish()
    with pytest.raises(Killed):
        platform.run_until_quiet()
    assert all(row.published_at is None for row in outbox_rows(platform, "ingest"))
    relay.publisher = broker  # the restarted relay
    platform.run_until_quiet()

    assert len(broker.topics[Topics.INVOICES]) == 10  # every event went out twice
    assert aging_invoices(platform) == [f"I{n}" for n in range(1, 6)]
    duplicates = sum(r.duplicates for r in platform.results)
    assert duplicates == 5
    assert all(row.published_at is not None for row in outbox_rows(platform, "ingest"))
    assert emitted(platform, "aging") == emitted(clean, "aging")  # the duplicates caused nothing


def test_a_row_the_broker_refuses_is_parked_and_the_rest_flows(make_platform) -> None:
    platform = make_platform(["ingest", "aging"])
    ctx = platform.context("ingest")
    ctx.settings = PlatformSettings(relay_max_attempts=3)
    platform.publish_many([invoice(n, f"A{n}") for n in range(1, 4)], Topics.INBOUND)
    platform.processors["ingest"].process(platform.broker.read(Topics.INBOUND, 0))
    second = outbox_rows(platform, "ingest")[1].id
    refused = PublishError("MSG_SIZE_TOO_LARGE", retriable=False)
    outbox = ctx.spec.tables.outbox
    with ctx.sessions() as session:
        keys = dict(session.execute(select(outbox.c.id, outbox.c.key)).all())
    publisher = ScriptedPublisher(platform.broker, lambda r: refused if r.key == keys[second] else None)
    relay = OutboxRelay(ctx, publisher)

    sent = [relay.relay_once() for _ in range(5)]

    assert sent == [1, 0, 0, 1, 0]  # the row before it; twice nothing (in order); after parking the rest
    rows = {row.id: row for row in outbox_rows(platform, "ingest")}
    assert rows[second].published_at is None and rows[second].attempts == 3
    assert rows[second].last_error == "MSG_SIZE_TOO_LARGE"
    assert sum(1 for row in rows.values() if row.published_at is not None) == 2
    assert OUTBOX_PARKED.labels("ingest")._value.get() == 1
    assert [p["id"] for p in relay.parked()] == [second]
    assert ctx.outbox_backlog() == 0  # a parked row is not backlog: it has its own gauge

    publisher.fail = lambda _r: None  # the operator fixed the cause
    assert relay.unpark() == 1
    assert ctx.outbox_backlog() == 1
    assert relay.relay_once() == 1
    assert OUTBOX_PARKED.labels("ingest")._value.get() == 0
    platform.run_until_quiet()
    assert aging_invoices(platform) == ["I1", "I2", "I3"]


def test_a_broker_outage_parks_nothing(make_platform) -> None:
    platform = make_platform(["ingest", "aging"])
    ctx = platform.context("ingest")
    ctx.settings = PlatformSettings(relay_max_attempts=2)
    platform.publish_many([invoice(n, f"A{n}") for n in range(1, 4)], Topics.INBOUND)
    platform.processors["ingest"].process(platform.broker.read(Topics.INBOUND, 0))
    down = PublishError("Local: Message timed out", retriable=True)
    publisher = ScriptedPublisher(platform.broker, lambda _r: down)
    relay = OutboxRelay(ctx, publisher)

    assert [relay.relay_once() for _ in range(10)] == [0] * 10
    assert all(row.attempts == 0 and row.published_at is None for row in outbox_rows(platform, "ingest"))

    publisher.fail = lambda _r: None  # the broker is back
    assert relay.drain() == 3
    platform.run_until_quiet()
    assert aging_invoices(platform) == ["I1", "I2", "I3"]


def test_the_relay_holds_no_transaction_while_the_broker_flushes(make_platform) -> None:
    platform = make_platform(["ingest", "aging"])
    ctx = platform.context("ingest")
    platform.publish_many([invoice(1)], Topics.INBOUND)
    platform.processors["ingest"].process(platform.broker.read(Topics.INBOUND, 0))
    observer = create_engine(ctx.engine.url)
    open_transactions: list[int] = []

    def look(_r: OutgoingRecord) -> None:
        with observer.connect() as conn:
            open_transactions.append(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                    )
                ).scalar_one()
            )
        return None

    try:
        assert OutboxRelay(ctx, ScriptedPublisher(platform.broker, look)).relay_once() == 1
    finally:
        observer.dispose()
    assert open_transactions == [0]


def test_republishing_the_retained_outbox_to_a_fresh_broker_applies_everything_once(
    make_platform, clock
) -> None:
    """The embedded broker restarted without its log: consumers read again from an empty topic."""
    platform = make_platform(["ingest", "aging"])
    platform.publish_many([invoice(n, f"A{n}") for n in range(1, 4)], Topics.INBOUND)
    platform.processors["ingest"].process(platform.broker.read(Topics.INBOUND, 0))
    platform.relays["ingest"].drain()
    platform.processors["aging"].process(platform.broker.read(Topics.INVOICES, 0)[:1])  # one read
    fresh = MemoryBroker(clock)  # what aging had not read is gone with the old broker

    assert republish_retained(platform.context("ingest")) == 3
    assert OutboxRelay(platform.context("ingest"), fresh).drain() == 3
    result = platform.processors["aging"].process(fresh.read(Topics.INVOICES, 0))

    assert (result.processed, result.duplicates) == (2, 1)
    assert aging_invoices(platform) == ["I1", "I2", "I3"]


# -- handler retries ------------------------------------------------------------------------------------
def flaky_aging(
    platform: InMemoryPlatform, monkeypatch: pytest.MonkeyPatch, fails: Callable[[str, int], Exception | None]
) -> list[str]:
    """Wrap aging's invoice handler: ``fails(invoice_id, n)`` may answer an exception to raise.

    ``n`` counts the calls with that invoice alone (the processor's retries); a call of a run of
    several events passes 0.
    """
    spec = platform.context("aging").spec
    real = spec.batch_handlers[INVOICE_TYPE]
    calls: list[str] = []
    attempts: dict[str, int] = {}

    def handler(events: Sequence[Any], uow: Any) -> None:
        for e in events:
            calls.append(e.payload.invoice_id)
        for e in events:
            n = 0
            if len(events) == 1:
                n = attempts[e.payload.invoice_id] = attempts.get(e.payload.invoice_id, 0) + 1
            error = fails(e.payload.invoice_id, n)
            if error is not None:
                raise error
        real(events, uow)

    monkeypatch.setitem(spec.batch_handlers, INVOICE_TYPE, handler)
    return calls


def test_a_failing_event_is_retried_with_backoff_and_nothing_of_its_account_overtakes_it(
    make_platform, monkeypatch
) -> None:
    platform = make_platform(["ingest", "aging"])
    calls = flaky_aging(
        platform, monkeypatch, lambda i, n: ValueError("flaky") if i == "I2" and n <= 2 else None
    )
    sleeps: list[float] = []
    platform.processors["aging"].sleep = sleeps.append
    platform.publish_many([invoice(1), invoice(2), invoice(3), invoice(4, "B")], Topics.INBOUND)
    platform.run_until_quiet()

    assert aging_invoices(platform) == ["I1", "I2", "I3", "I4"]
    assert sleeps == [0.05, 0.1]  # exponential: handler_retry_backoff_s, doubled
    last_i2 = max(i for i, c in enumerate(calls) if c == "I2")
    after = calls[last_i2 + 1 :]
    assert "I3" in after  # A1's next invoice was applied only after I2 succeeded
    assert all(r.dead_lettered == 0 for r in platform.results)


def test_an_event_failing_every_attempt_is_dead_lettered_before_its_account_goes_on(
    make_platform, monkeypatch
) -> None:
    platform = make_platform(["ingest", "aging"])
    calls = flaky_aging(platform, monkeypatch, lambda i, _n: ValueError("poison") if i == "I2" else None)
    sleeps: list[float] = []
    platform.processors["aging"].sleep = sleeps.append
    platform.publish_many([invoice(1), invoice(2), invoice(3)], Topics.INBOUND)
    platform.run_until_quiet()

    assert aging_invoices(platform) == ["I1", "I3"]
    assert len(sleeps) == 2  # three attempts
    i2_alone = [i for i, c in enumerate(calls) if c == "I2"]
    i3_applied = max(i for i, c in enumerate(calls) if c == "I3")
    assert i3_applied > i2_alone[-1]
    dead = platform.broker.topics[Topics.DEAD_LETTER]
    assert len(dead) == 1 and b"poison" in dict(dead[0].record.headers)["dlq_reason"]


@pytest.mark.parametrize(
    "error",
    [psycopg.errors.SerializationFailure("could not serialize"), psycopg.errors.DeadlockDetected("dl")],
)
def test_transient_database_errors_retry_the_batch_and_never_count_toward_a_dead_letter(
    make_platform, monkeypatch, error
) -> None:
    platform = make_platform(["ingest", "aging"])
    wrapped = OperationalError("UPDATE aging…", {}, error)
    calls = 0

    def outage(_invoice: str, _n: int) -> Exception | None:
        nonlocal calls
        calls += 1
        return wrapped if calls <= 5 else None  # more times than handler_max_attempts

    flaky_aging(platform, monkeypatch, outage)
    platform.publish_many([invoice(1)], Topics.INBOUND)
    platform.processors["ingest"].process(platform.broker.read(Topics.INBOUND, 0))
    platform.relays["ingest"].drain()
    records = platform.broker.read(Topics.INVOICES, 0)
    for _ in range(5):  # what the consumer loop does: rewind and retry the batch with backoff
        with pytest.raises(InfrastructureError):
            platform.processors["aging"].process(records)
    result = platform.processors["aging"].process(records)

    assert (result.processed, result.dead_lettered) == (1, 0)
    assert aging_invoices(platform) == ["I1"]
    assert Topics.DEAD_LETTER not in platform.broker.topics or not platform.broker.topics[Topics.DEAD_LETTER]


def test_sqlstates_of_transient_errors_are_infrastructure() -> None:
    from sqlalchemy.exc import DBAPIError

    class Serialization(Exception):
        sqlstate = "40001"

    class Unique(Exception):
        sqlstate = "23505"

    assert _is_infrastructure(DBAPIError("x", {}, Serialization()))
    assert not _is_infrastructure(DBAPIError("x", {}, Unique()))
    assert not _is_infrastructure(ValueError("x"))


# -- notifier killed after an inline send, before the commit -------------------------------------------
# The file providers (SMS/WhatsApp log, e-mail outbox, PDF letters) deliver inside the handler's
# transaction (``inline = True``, services/notifier/service_layer/handlers.py ``deliver_many``): a kill
# between the delivery and the commit rolls the task back but not the message, and the redelivered
# ``contact.due`` delivers again; the providers are idempotent by contact id, so the debtor still gets
# one message (the SMS log holds what was sent). The real-stack kill (tests/faults/test_service_kill.py)
# hits the window only when the kill lands in it; here always.
def notifier_envelope(n: int, event_type: str, data: dict[str, Any]) -> Envelope:
    return Envelope(id=f"k{n}", source="/test", type=event_type, time=NOTIFIER_T0, subject="A1", data=data)


NOTIFIER_T0 = datetime(2026, 1, 14, 15, tzinfo=UTC)


def test_a_kill_between_an_inline_send_and_the_commit_sends_the_message_once(
    make_platform, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COBRANZA_NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("COBRANZA_NOTIFIER_SMS_HTTP_URL", raising=False)
    platform = make_platform(["notifier"])
    platform.advance_to(NOTIFIER_T0)
    customer = {
        "customer_id": "C1",
        "account_ids": ["A1"],
        "name": "Ana",
        "kind": "person",
        "country": "CO",
        "timezone": "America/Bogota",
        "contact_points": [{"channel": "sms", "value": "+573001234567", "consent": True}],
    }
    platform.publish(notifier_envelope(1, "cobranza.customer.upserted", customer), Topics.CUSTOMERS)
    platform.run_until_quiet()
    due = {
        "contact_id": "K1",
        "account_id": "A1",
        "channel": "sms",
        "scheduled_for": NOTIFIER_T0.isoformat(),
        "strategy": "default",
        "step": "sms_mora",
        "template": "sms_mora",
    }
    platform.publish(notifier_envelope(2, "cobranza.contact.due", due), Topics.CONTACTS)
    real = notifier_handlers.record_outcomes

    def dies(*_args: Any, **_kwargs: Any) -> None:
        raise Killed  # after the provider wrote the message, before the outcome and the commit

    monkeypatch.setattr(notifier_handlers, "record_outcomes", dies)
    with pytest.raises(Killed):
        platform.run_until_quiet()
    monkeypatch.setattr(notifier_handlers, "record_outcomes", real)  # the restarted process
    platform.run_until_quiet()

    lines = (tmp_path / "notifier" / "sms.log").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["contact_id"] for line in lines] == ["K1"]
