"""Delivery guarantees on a real broker: API -> ingest -> Kafka -> aging; crash and restart; dead letters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer
from sqlalchemy import func, select

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.platform.dlq import read_dead_letters, replay
from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.worker import ServiceWorker
from services.aging.adapters.orm import invoices
from tests.support.auth import api_client

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[3]


def invoice_data(invoice_id: str, account_id: str = "A1") -> dict[str, object]:
    return {
        "invoice_id": invoice_id,
        "account_id": account_id,
        "customer": {
            "customer_id": "C1",
            "name": "Ana",
            "kind": "person",
            "country": "CO",
            "timezone": "America/Bogota",
        },
        "amount": "100000.00",
        "currency": "COP",
        "issued_on": "2026-01-05",
        "due_on": "2026-01-20",
        "product_line": "auto",
    }


def invoice_envelope(invoice_id: str, account_id: str = "A1") -> Envelope:
    return Envelope(
        id=f"evt-{invoice_id}",
        source="/core/test",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        subject=account_id,
        data=invoice_data(invoice_id, account_id),
    )


def aging_rows(ctx: ServiceContext) -> int:
    with ctx.sessions() as session:
        return int(session.execute(select(func.count()).select_from(invoices)).scalar_one())


def test_invoice_posted_to_ingest_api_arrives_in_aging_tables(
    service_database, kafka_settings, wait_until
) -> None:
    settings = kafka_settings(service_database(["ingest", "aging"]))
    ingest = ServiceWorker(load_spec("ingest"), settings)
    aging = ServiceWorker(load_spec("aging"), settings)
    ingest.start_background()
    aging.start_background()
    try:
        with api_client(ingest.ctx) as client:
            response = client.post("/v1/invoices", json=invoice_data("INV-API-1"))
            assert response.status_code in (200, 201, 202), response.text
        wait_until(lambda: aging_rows(aging.ctx) == 1, what="the invoice in aging.invoices")
        with aging.ctx.sessions() as session:
            assert session.execute(select(invoices.c.invoice_id)).scalar_one() == "INV-API-1"
    finally:
        ingest.shutdown()
        aging.shutdown()


def test_malformed_record_is_dead_lettered_while_the_rest_is_processed(
    service_database, kafka_settings, wait_until, produce_records
) -> None:
    settings = kafka_settings(service_database(["ingest", "aging"]))
    good_before = invoice_envelope("INV-OK-1")
    good_after = invoice_envelope("INV-OK-2")
    bad = invoice_envelope("INV-BAD").with_data({**invoice_data("INV-BAD"), "amount": 12.5})
    produce_records(
        settings,
        Topics.INVOICES,
        [
            ("A1", good_before.to_json_bytes()),
            ("A1", bad.to_json_bytes()),
            ("A1", b"\x00garbage"),
            ("A1", good_after.to_json_bytes()),
        ],
    )
    aging = ServiceWorker(load_spec("aging"), settings)
    aging.start_background()
    try:
        wait_until(lambda: aging_rows(aging.ctx) == 2, what="both valid invoices")
        letters: list = []

        def dead_letters_arrived() -> bool:
            letters[:] = list(
                read_dead_letters(settings.kafka_bootstrap_servers or "", settings.kafka_topic_prefix)
            )
            return len(letters) == 2

        wait_until(dead_letters_arrived, what="two dead letters")
    finally:
        aging.shutdown()
    by_value = {letter.value: letter for letter in letters}
    assert "data.amount" in by_value[bad.to_json_bytes()].reason
    assert "Invalid JSON" in by_value[b"\x00garbage"].reason
    assert all(letter.headers["dlq_kind"] == "invalid_event" for letter in letters)
    assert {letter.value for letter in letters} == {bad.to_json_bytes(), b"\x00garbage"}
    assert all(letter.headers["dlq_service"] == "aging" for letter in letters)
    assert all(letter.headers["dlq_topic"] == Topics.INVOICES for letter in letters)


def test_consumer_killed_mid_batch_and_restarted_loses_and_duplicates_nothing(
    service_database, kafka_settings, wait_until, produce_records, tmp_path: Path
) -> None:
    database = service_database(["ingest", "aging"])
    settings = kafka_settings(database)
    total = 3000
    records = [
        (f"A{i % 50}", invoice_envelope(f"INV-{i:05d}", f"A{i % 50}").to_json_bytes()) for i in range(total)
    ]
    # the core system retried a slice: the same events (same ids) arrive twice
    records += records[1000:1200]
    produce_records(settings, Topics.INVOICES, records)

    env = {
        **os.environ,
        "DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "COBRANZA_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "COBRANZA_KAFKA_BATCH_SIZE": "100",
        "COBRANZA_LOG_JSON": "false",
    }
    ctx = ServiceContext.create(load_spec("aging"), database, pool_size=1)
    command = [sys.executable, "-m", "libs.platform.cli", "service", "run", "aging", "--port", "0"]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = subprocess.Popen(command, env=env, cwd=REPO, stdout=logs[0].open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: aging_rows(ctx) > 0, what="the first batch to commit")
        first.send_signal(signal.SIGKILL)  # no graceful shutdown, mid-stream
        first.wait(10)
        killed_at = aging_rows(ctx)
        assert killed_at < total, "the consumer finished before it could be killed; raise the record count"
        second = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=logs[1].open("wb"), stderr=subprocess.STDOUT
        )
        try:
            try:
                wait_until(lambda: aging_rows(ctx) == total, timeout=120, what="every invoice after restart")
            except AssertionError:
                print(f"rows: {aging_rows(ctx)} (killed at {killed_at})")
                for log in logs:
                    print(log, log.read_text()[-3000:])
                raise
            time.sleep(2)  # anything still in flight would show up as an extra row or inbox entry
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        inbox = load_spec("aging").tables.inbox
        with ctx.sessions() as session:
            assert aging_rows(ctx) == total
            assert session.execute(select(func.count()).select_from(inbox)).scalar_one() == total
            distinct = session.execute(select(func.count(func.distinct(invoices.c.invoice_id)))).scalar_one()
            assert distinct == total
    finally:
        if first.poll() is None:
            first.kill()
        ctx.dispose()


def test_dead_letter_replay_delivers_the_original_record_once_the_cause_is_fixed(
    service_database, kafka_settings, wait_until
) -> None:
    """A handler that failed (here: simulated by a letter written as the processor writes it) is replayed."""
    settings = kafka_settings(service_database(["ingest", "aging"]))
    original = invoice_envelope("INV-REPLAY")
    headers: list[tuple[str, str | bytes | None]] = [
        ("dlq_reason", b"OperationalError: reference data missing"),
        ("dlq_kind", b"handler_failed"),
        ("dlq_service", b"aging"),
        ("dlq_topic", Topics.INVOICES.encode()),
        ("dlq_event_id", original.id.encode()),
    ]
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    producer.produce(
        settings.kafka_topic_prefix + Topics.DEAD_LETTER,
        key=b"A1",
        value=original.to_json_bytes(),
        headers=headers,
    )
    assert producer.flush(30) == 0
    bootstrap = settings.kafka_bootstrap_servers or ""
    letters = list(read_dead_letters(bootstrap, settings.kafka_topic_prefix))
    assert [letter.headers["dlq_event_id"] for letter in letters] == [original.id]

    aging = ServiceWorker(load_spec("aging"), settings)
    aging.start_background()
    try:
        assert replay(bootstrap, letters, settings.kafka_topic_prefix) == 1
        assert replay(bootstrap, letters, settings.kafka_topic_prefix) == 1  # a second replay is harmless
        wait_until(lambda: aging_rows(aging.ctx) == 1, what="the replayed invoice in aging")
        time.sleep(2)
        assert aging_rows(aging.ctx) == 1
    finally:
        aging.shutdown()
