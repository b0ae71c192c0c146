"""Personal data out of logs and dead letters: a unique violation that names an e-mail."""

from __future__ import annotations

import importlib.util
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from libs.events.catalog import Topics
from libs.events.payloads.reference import ReferenceUpserted
from libs.events.registry import DecodedEvent
from libs.platform.databases import fresh_database
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import drop_database, make_engine
from libs.runtime.ids import SequentialIdFactory
from libs.runtime.redaction import redact
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker
from libs.runtime.uow import UnitOfWork

PROBE = Path(__file__).resolve().parents[2] / "unit" / "runtime" / "runtime_probe.py"
EMAIL = "ana.perez@example.co"


def _probe() -> Any:
    spec = importlib.util.spec_from_file_location("runtime_probe_redaction", PROBE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _duplicate_email(events: Sequence[DecodedEvent[ReferenceUpserted]], uow: UnitOfWork) -> None:
    uow.session.execute(text("CREATE TEMP TABLE IF NOT EXISTS people (email text PRIMARY KEY)"))
    for e in events:
        uow.session.execute(text("INSERT INTO people VALUES (:e), (:e)"), {"e": e.payload.name})


@pytest.fixture
def platform(pg_server: str, clock: SimulatedClock) -> Iterator[InMemoryPlatform]:
    probe = _probe()
    spec = probe.probe_spec(batch=True)
    spec.batch_handlers[probe.TYPE] = _duplicate_email
    name = f"cobranza_redact_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = fresh_database(pg_server, [spec], name)
    ctx = ServiceContext.create(spec, url, clock=clock, ids=SequentialIdFactory("t"), pool_size=2)
    try:
        yield InMemoryPlatform([ctx], MemoryBroker(clock), clock)
    finally:
        ctx.dispose()
        drop_database(pg_server, name)


def test_a_unique_violation_with_an_email_reaches_neither_the_log_nor_the_dead_letter(
    platform: InMemoryPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    from libs.events.envelope import Envelope

    env = Envelope(
        id="e1",
        source="/core/reference",
        type="cobranza.reference.upserted",
        subject="O1",
        time=datetime(2026, 1, 5, 15, tzinfo=UTC),
        data={"entity_type": "office", "entity_id": "O1", "name": EMAIL},
    )
    with caplog.at_level(logging.DEBUG):
        platform.publish(env, Topics.REFERENCE)
        platform.run_until_quiet()

    letters = platform.broker.topics[Topics.DEAD_LETTER]
    assert len(letters) == 1
    reason = letters[0].headers["dlq_reason"]
    assert "UniqueViolation" in reason and "Key (email)=(<redacted>)" in reason
    assert EMAIL not in reason
    assert "parameters hidden" in reason  # SQLAlchemy's echo of bound values is off (hide_parameters)
    assert caplog.records, "the failure was logged"
    assert all(EMAIL not in r.getMessage() for r in caplog.records)


def test_engines_hide_parameters() -> None:
    engine = make_engine("postgresql://u:p@localhost:1/db", service="probe")
    assert engine.hide_parameters


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("DETAIL:  Key (tenant_id, email)=(default, a@b.co) already exists.", "Key (tenant_id, email)="),
        ("DETAIL:  Key (lower(email))=(a@b.co) already exists.", "Key (lower(email))="),
        ("DETAIL:  Failing row contains (default, Ana, a@b.co).", "Failing row contains"),
        ('invalid input syntax for type numeric: "a@b.co"', "invalid input syntax for type numeric"),
        ('CONTEXT:  COPY people, line 3, column email: "a@b.co"', "COPY people, line 3"),
        ("[SQL: INSERT INTO x VALUES (%(e)s)]\n[parameters: {'e': 'a@b.co'}]", "[SQL: INSERT INTO x"),
    ],
)
def test_redact_drops_values_and_keeps_the_shape(raw: str, kept: str) -> None:
    out = redact(raw)
    assert "a@b.co" not in out
    assert kept in out
