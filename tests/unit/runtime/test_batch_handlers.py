"""Batch handlers: a poll batch's fresh events in one call, per-account order kept, poison bisected out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from runtime_probe import probe_metadata
from sqlalchemy import select
from test_event_identity import answers, office, seen

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.runtime.clock import SimulatedClock
from libs.runtime.ids import IdFactory
from libs.runtime.processor import _Decoded, plan_units
from libs.runtime.transport.base import Record
from libs.runtime.uow import UnitOfWork

_, SEEN = probe_metadata()


def calls(platform) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return list(platform.context("probe").extras.get("calls", []))


def test_a_batch_handler_gets_every_fresh_event_of_the_batch_in_one_call(probe_platform) -> None:
    platform = probe_platform(batch=True)
    platform.publish_many([office(f"E-{i}", f"O{i}") for i in range(5)], Topics.REFERENCE)
    platform.run_until_quiet()

    offices = [f"office:O{i}" for i in range(5)]
    agencies = [f"agency:O{i}" for i in range(5)]
    assert calls(platform) == [offices, agencies]  # the answers come back as the next batch
    assert [row[3] for row in seen(platform)] == [f"O{i}" for i in range(5)]


def test_batched_and_per_event_handling_emit_the_same_events(probe_platform) -> None:
    events = [office(f"E-{i}", f"O{i % 2}", source=f"/core/{i % 3}") for i in range(6)]
    emitted = []
    for batch in (False, True):
        platform = probe_platform(batch=batch)
        platform.publish_many(events, Topics.REFERENCE)
        platform.run_until_quiet()
        emitted.append(
            [(e["id"], e["subject"], e["causationid"], e["correlationid"]) for e in answers(platform)]
        )
    assert emitted[0] == emitted[1]
    assert len({row[0] for row in emitted[0]}) == 6


def test_a_poison_event_is_bisected_out_and_dead_lettered_alone(probe_platform) -> None:
    platform = probe_platform(batch=True)
    events = [office(f"E-{i}", f"O{i}") for i in range(7)]
    events[4] = office("E-4", "O4").with_data({"entity_type": "office", "entity_id": "O4", "name": "poison"})
    platform.publish_many(events, Topics.REFERENCE)
    platform.run_until_quiet()

    letters = platform.broker.topics[Topics.DEAD_LETTER]
    assert [p.headers["dlq_event_id"] for p in letters] == ["E-4"]
    assert letters[0].headers["dlq_kind"] == "handler_failed"
    assert "poison office" in letters[0].headers["dlq_reason"]
    assert letters[0].headers["dlq_event_source"] == "/core/a"
    assert [row[3] for row in seen(platform)] == ["O0", "O1", "O2", "O3", "O5", "O6"]
    assert sorted(str(e["subject"]) for e in answers(platform)) == [
        f"agency:O{i}" for i in (0, 1, 2, 3, 5, 6)
    ]
    result = platform.results[0]
    assert (result.processed, result.dead_lettered) == (6, 1)
    inbox = platform.context("probe").spec.tables.inbox
    with platform.context("probe").sessions() as session:
        ids = sorted(session.execute(select(inbox.c.event_id).where(inbox.c.source == "/core/a")).scalars())
    assert ids == ["E-0", "E-1", "E-2", "E-3", "E-5", "E-6"], (
        "the poison's inbox row is released for a replay"
    )


def _decoded(n: int, subject: str | None, handler: object | None, tenant: str = "default") -> _Decoded:
    envelope = Envelope(
        id=f"E-{n}",
        source="/s",
        type="cobranza.invoice.issued",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        subject=subject,
        tenantid=tenant,
        data={},
    )
    record = Record("t", 0, n, subject.encode() if subject else None, b"")
    if handler is None:
        return _Decoded(record, envelope, None, handler=lambda _e, _u: None)
    return _Decoded(record, envelope, None, handler=None, batch_handler=handler)  # type: ignore[arg-type]


def _shape(units) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    return [
        ("one" if u.batch_handler is None else u.batch_handler.__name__, [d.envelope.id for d in u.events])
        for u in units
    ]


def issued(events, uow):  # type: ignore[no-untyped-def]
    """A stand-in batch handler."""


def paid(events, uow):  # type: ignore[no-untyped-def]
    """Another stand-in batch handler."""


def test_runs_merge_across_accounts_but_never_let_an_event_overtake_its_account() -> None:
    batch = [
        _decoded(0, "A", issued),
        _decoded(1, "B", paid),
        _decoded(2, "C", issued),  # joins run 0: C has nothing before it
        _decoded(3, "B", issued),  # must not join run 0: B was paid after run 0
        _decoded(4, "A", None),  # a per-event handler: its own unit
        _decoded(5, "D", paid),  # joins run 1
        _decoded(6, "A", paid),  # after A's per-event unit: a new run
    ]
    assert _shape(plan_units(batch)) == [
        ("issued", ["E-0", "E-2"]),
        ("paid", ["E-1", "E-5"]),
        ("issued", ["E-3"]),
        ("one", ["E-4"]),
        ("paid", ["E-6"]),
    ]


def test_runs_are_per_tenant_and_keyless_records_are_barriers() -> None:
    batch = [
        _decoded(0, "A", issued),
        _decoded(1, "A", issued, tenant="acme"),
        _decoded(2, None, paid),
        _decoded(3, "B", issued),  # may not move before the keyless record
        _decoded(4, "C", paid),  # joins the keyless record's run (after it)
    ]
    assert _shape(plan_units(batch)) == [
        ("issued", ["E-0"]),
        ("issued", ["E-1"]),
        ("paid", ["E-2", "E-4"]),
        ("issued", ["E-3"]),
    ]


def test_a_batch_unit_of_work_needs_a_cause_to_emit(probe_platform) -> None:
    platform = probe_platform(batch=True)
    ctx = platform.context("probe")
    from libs.events.payloads.reference import ReferenceUpserted

    payload = ReferenceUpserted(entity_type="office", entity_id="X", name="x")
    with ctx.sessions() as session, session.begin():
        uow = UnitOfWork(
            session,
            service="probe",
            tables=ctx.spec.tables,
            clock=SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC)),
            ids=IdFactory(),
            tenant="acme",
            batch=True,
        )
        with pytest.raises(ValueError, match="cause="):
            uow.emit(payload)
        cause = office("E-1", "O1", tenant="acme")
        emitted = uow.emit(payload, cause=cause)
        again = uow.for_event(cause).emit(payload)
    assert json.loads(emitted.to_json_bytes())["causationid"] == "E-1"
    assert emitted.tenantid == "acme" and emitted.id != again.id
    assert uow.emitted == [emitted, again]


def test_batches_are_measured_per_consumer(probe_platform) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("cobranza_consumer_batch_size_sum", {"service": "probe"})
    calls_before = sample(
        "cobranza_batch_handler_seconds_count", {"service": "probe", "handler": "probe_spec.<locals>.record"}
    )
    platform = probe_platform(batch=True)
    platform.publish_many([office(f"E-{i}", f"O{i}") for i in range(4)], Topics.REFERENCE)
    platform.run_until_quiet()

    assert (
        sample("cobranza_consumer_batch_size_sum", {"service": "probe"}) - before == 8
    )  # 4 offices, 4 answers
    assert sample("cobranza_consumer_batch_seconds_count", {"service": "probe"}) >= 2
    handler = {"service": "probe", "handler": "probe_spec.<locals>.record"}
    assert sample("cobranza_batch_handler_seconds_count", handler) - calls_before == 2
