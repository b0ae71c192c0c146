"""The unit of work a handler receives: one Postgres transaction, the clock, and the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import delete, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from libs.events.envelope import Envelope
from libs.events.payloads.base import EventPayload
from libs.runtime.clock import Clock
from libs.runtime.ids import IdFactory, derived_id
from libs.runtime.tables import RuntimeTables


def _headers(envelope: Envelope) -> dict[str, str]:
    """Kafka headers: the CloudEvents type/id for routing without parsing, W3C trace context for tracers."""
    headers = {
        "ce_type": envelope.type,
        "ce_id": envelope.id,
        "ce_schemaversion": str(envelope.schemaversion),
    }
    if envelope.traceparent:
        headers["traceparent"] = envelope.traceparent
    if envelope.tracestate:
        headers["tracestate"] = envelope.tracestate
    return headers


@dataclass(frozen=True)
class DueTimer:
    name: str
    key: str
    fire_at: datetime
    data: dict[str, Any]
    tenant: str


class UnitOfWork:
    """Handlers write through ``session`` and announce facts through ``emit``.

    Both land in the same transaction; nothing reaches Kafka until it commits,
    and the relay publishes what did.
    """

    def __init__(
        self,
        session: Session,
        *,
        service: str,
        tables: RuntimeTables,
        clock: Clock,
        ids: IdFactory,
        cause: Envelope | None = None,
        cause_key: str | None = None,
        tenant: str = "default",
        correlation_id: str | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.extras: dict[str, Any] = extras if extras is not None else {}
        """The service context's extras (e.g. the simulator's ``config_dir``), read-only by convention."""
        self.service = service
        self.clock = clock
        self._tables = tables
        self._ids = ids
        self.cause = cause
        self._cause_key = cause_key or (cause.id if cause else None)
        self.tenant = cause.tenantid if cause else tenant
        self.correlation_id = (cause.correlationid or cause.id) if cause else correlation_id
        self._emitted = 0
        self.emitted: list[Envelope] = []

    def now(self) -> datetime:
        return self.clock.now()

    def _next_id(self, scope: str) -> str:
        self._emitted += 1
        if self._cause_key is not None:
            return derived_id(self._cause_key, self.service, self._emitted)
        return self._ids.new(f"{self.service}|{scope}")

    def _envelope(self, payload: EventPayload, subject: str | None, event_id: str | None) -> Envelope:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return Envelope(
            id=event_id or self._next_id(payload.event_type),
            source=f"/cobranza/{self.service}",
            type=payload.event_type,
            time=self.now(),
            subject=subject if subject is not None else payload.subject(),
            data=payload.model_dump(mode="json", exclude_none=True),
            tenantid=self.tenant,
            correlationid=self.correlation_id or None,
            causationid=self.cause.id if self.cause else None,
            schemaversion=payload.version,
            traceparent=carrier.get("traceparent"),
            tracestate=carrier.get("tracestate"),
        )

    def emit(
        self, payload: EventPayload, *, subject: str | None = None, event_id: str | None = None
    ) -> Envelope:
        """Queue ``payload`` for publication on its catalog topic, keyed by account id."""
        envelope = self._envelope(payload, subject, event_id)
        self.forward(envelope, payload.topic)
        return envelope

    def emit_many(self, payloads: Iterable[EventPayload], chunk_size: int = 1000) -> int:
        """``emit`` for set-based work (a nightly re-age): multi-row outbox inserts, in order."""
        chunk: list[tuple[Envelope, str]] = []
        count = 0
        for payload in payloads:
            chunk.append((self._envelope(payload, None, None), payload.topic))
            if len(chunk) >= chunk_size:
                self.forward_many(chunk)
                count += len(chunk)
                chunk = []
        self.forward_many(chunk)
        return count + len(chunk)

    def forward(self, envelope: Envelope, topic: str) -> None:
        """Publish an already-built envelope (ingest forwarding a validated inbound event)."""
        self.forward_many([(envelope, topic)])

    def forward_many(self, items: Sequence[tuple[Envelope, str]]) -> None:
        """``forward`` for a batch (file imports): one multi-row outbox insert instead of one per event."""
        if not items:
            return
        now = self.now()
        self.session.execute(
            insert(self._tables.outbox),
            [
                {
                    "event_id": envelope.id,
                    "event_type": envelope.type,
                    "topic": topic,
                    "key": envelope.subject,
                    "value": envelope.to_json_bytes(),
                    "headers": _headers(envelope),
                    "created_at": now,
                }
                for envelope, topic in items
            ],
        )
        self.emitted.extend(envelope for envelope, _ in items)

    def dead_letter(self, *, topic: str, key: str | None, value: bytes, headers: dict[str, str]) -> None:
        self.session.execute(
            insert(self._tables.outbox).values(
                event_id=headers.get("dlq_event_id") or self._next_id("deadletter"),
                event_type=headers.get("dlq_event_type") or "invalid",
                topic=topic,
                key=key,
                value=value,
                headers=headers,
                created_at=self.now(),
            )
        )

    def schedule(self, name: str, key: str, at: datetime, data: dict[str, Any] | None = None) -> None:
        """Ask to be woken at ``at`` (idempotent per name and key: the latest call wins)."""
        if at.tzinfo is None:
            raise ValueError("timers need a timezone-aware time")
        stmt = pg_insert(self._tables.timers).values(
            name=name, key=key, fire_at=at, data=data or {}, tenant=self.tenant
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["name", "key"], set_={"fire_at": at, "data": data or {}, "tenant": self.tenant}
        )
        self.session.execute(stmt)

    def cancel(self, name: str, key: str) -> None:
        timers = self._tables.timers
        self.session.execute(delete(timers).where(timers.c.name == name, timers.c.key == key))
