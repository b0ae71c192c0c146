"""A tiny service the runtime tests run on: it owns schema ``probe`` and depends on no real service.

It consumes ``cobranza.reference.upserted``: an office is recorded in ``probe.seen``, answered with
an agency (one emitted event per office, caused by it) and given a timer; an agency is ignored, so
the probe never feeds itself forever; an office named ``poison`` makes its handler raise. Every
handler call appends its events' subjects to ``ctx.extras["calls"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, insert

from libs.events.payloads.reference import ReferenceUpserted
from libs.events.registry import DecodedEvent
from libs.runtime.service import ServiceSpec
from libs.runtime.uow import DueTimer, UnitOfWork

MIGRATIONS = Path(__file__).parent / "probe_migrations" / "versions"
TYPE = "cobranza.reference.upserted"
WAKE_AT = datetime(2026, 3, 1, tzinfo=UTC)


def probe_metadata() -> tuple[MetaData, Table]:
    metadata = MetaData(schema="probe")
    seen = Table(
        "seen",
        metadata,
        Column("tenant_id", String(64), primary_key=True),
        Column("seq", BigInteger, primary_key=True, autoincrement=True),
        Column("source", String(500), nullable=False),
        Column("event_id", String(200), nullable=False),
        Column("entity_id", String(200), nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False),
    )
    return metadata, seen


def probe_spec(*, batch: bool = False) -> ServiceSpec:
    """The probe with a per-event handler, or (``batch=True``) the same logic as a batch handler."""
    metadata, seen = probe_metadata()

    def record(events: Sequence[DecodedEvent[ReferenceUpserted]], uow: UnitOfWork) -> None:
        uow.extras.setdefault("calls", []).append([e.envelope.subject for e in events])
        offices = [e for e in events if e.payload.entity_type == "office"]
        if any(e.payload.name == "poison" for e in offices):
            raise ValueError("a poison office")
        if not offices:
            return
        uow.session.execute(
            insert(seen),
            [
                {
                    "tenant_id": uow.for_event(e.envelope).tenant,
                    "source": e.envelope.source,
                    "event_id": e.envelope.id,
                    "entity_id": e.payload.entity_id,
                    "handled_at": uow.now(),
                }
                for e in offices
            ],
        )
        uow.emit_many(
            (
                ReferenceUpserted(entity_type="agency", entity_id=e.payload.entity_id, name=e.payload.name)
                for e in offices
            ),
            causes=[e.envelope for e in offices],
        )
        for e in offices:
            uow.for_event(e.envelope).schedule("probe.wake", e.payload.entity_id, WAKE_AT, {"id": e.id})

    def one(event: DecodedEvent[Any], uow: UnitOfWork) -> None:
        record([event], uow)

    def wake(due: DueTimer, uow: UnitOfWork) -> None:
        uow.session.execute(
            insert(seen).values(
                tenant_id=uow.tenant,
                source="timer",
                event_id=str(due.data["id"]),
                entity_id=due.key,
                handled_at=uow.now(),
            )
        )

    return ServiceSpec(
        name="probe",
        metadata=metadata,
        migrations_dir=MIGRATIONS,
        handlers={} if batch else {TYPE: one},
        batch_handlers={TYPE: record} if batch else {},
        timers={"probe.wake": wake},
    )
