"""Turns a batch of broker records into handler calls, exactly once in effect.

For each batch, one Postgres transaction holds, per event: the inbox row (so a
redelivered event is skipped), the handler's writes and the events it emits
(outbox). A handler that keeps failing, or a record that does not decode, is
written to the outbox as a dead letter with the reason, in the same
transaction, and the batch moves on. Database outages abort the whole batch so
the caller can retry it: offsets are committed only after this returns.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import propagate, trace
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import DecodedEvent, InvalidEvent, decode, format_validation_error
from libs.runtime.context import ServiceContext
from libs.runtime.observability import (
    EVENTS_CONSUMED,
    EVENTS_FAILED,
    HANDLER_SECONDS,
    correlation_id,
    event_label,
)
from libs.runtime.service import Handler
from libs.runtime.transport.base import Record
from libs.runtime.uow import UnitOfWork

log = logging.getLogger(__name__)
tracer = trace.get_tracer("cobranza.runtime")


class InfrastructureError(RuntimeError):
    """The database went away mid-batch; nothing was committed, retry the batch."""


@dataclass
class _HandlerFailed(Exception):
    """A handler raised on the fast path: redo the batch with one savepoint per event."""


@dataclass(frozen=True)
class _Decoded:
    record: Record
    envelope: Envelope
    event: DecodedEvent[Any] | None
    handler: Handler | None


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    reasons: list[str] = field(default_factory=list)


def _is_infrastructure(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


class EventProcessor:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.max_attempts = ctx.settings.handler_max_attempts

    def process(self, records: list[Record]) -> BatchResult:
        """Handle a batch: optimistically in one transaction; per event with savepoints if a handler fails."""
        if not records:
            return BatchResult()
        try:
            try:
                with self.ctx.sessions() as session, session.begin():
                    result, counts = self._process_fast(session, records)
            except _HandlerFailed:
                result = BatchResult()
                with self.ctx.sessions() as session, session.begin():
                    for record in records:
                        self._process_one(session, record, result)
            else:
                for (label, outcome), n in counts.items():
                    EVENTS_CONSUMED.labels(self.spec.name, label, outcome).inc(n)
        except Exception as exc:
            if _is_infrastructure(exc):
                raise InfrastructureError(str(exc)) from exc
            raise
        self.ctx.notify_committed()
        return result

    # -- the fast path: one inbox insert per batch, no savepoints ------------------------
    def _process_fast(
        self, session: Session, records: list[Record]
    ) -> tuple[BatchResult, Counter[tuple[str, str]]]:
        result = BatchResult()
        counts: Counter[tuple[str, str]] = Counter()
        decoded = [d for d in (self._decode(session, r, result) for r in records) if d is not None]
        for d in decoded:
            if d.handler is None:
                counts[(event_label(d.envelope.type), "ignored")] += 1
        handled = [d for d in decoded if d.handler is not None]
        fresh = self._claim(session, handled)
        for d in handled:
            label = event_label(d.envelope.type)
            if d.envelope.id not in fresh:
                result.duplicates += 1
                counts[(label, "duplicate")] += 1
                continue
            fresh.discard(d.envelope.id)  # a repeat inside the same batch is a duplicate too
            started = time.perf_counter()
            try:
                self._invoke(session, d)
            except Exception as exc:
                if _is_infrastructure(exc):
                    raise
                raise _HandlerFailed from exc
            HANDLER_SECONDS.labels(self.spec.name, label).observe(time.perf_counter() - started)
            counts[(label, "processed")] += 1
            result.processed += 1
        return result, counts

    def _claim(self, session: Session, handled: list[_Decoded]) -> set[str]:
        """Insert the batch's inbox rows at once; the ids that were new are the ones to handle."""
        if not handled:
            return set()
        inbox = self.spec.tables.inbox
        now = self.ctx.clock.now()
        rows = {
            d.envelope.id: {
                "consumer": self.spec.name,
                "event_id": d.envelope.id,
                "event_type": d.envelope.type,
                "processed_at": now,
            }
            for d in handled
        }
        inserted = session.execute(
            pg_insert(inbox).values(list(rows.values())).on_conflict_do_nothing().returning(inbox.c.event_id)
        )
        return set(inserted.scalars())

    def _invoke(self, session: Session, d: _Decoded) -> None:
        envelope = d.envelope
        assert d.handler is not None
        event = d.event if d.event is not None else DecodedEvent(envelope=envelope, payload=None)  # type: ignore[arg-type, type-var]
        token = correlation_id.set(envelope.correlationid or envelope.id)
        parent = propagate.extract(
            {"traceparent": envelope.traceparent or "", "tracestate": envelope.tracestate or ""}
        )
        try:
            with tracer.start_as_current_span(
                f"handle {envelope.type}",
                context=parent,
                kind=trace.SpanKind.CONSUMER,
                attributes={"cobranza.service": self.spec.name, "messaging.message.id": envelope.id},
            ):
                uow = UnitOfWork(
                    session,
                    service=self.spec.name,
                    tables=self.spec.tables,
                    clock=self.ctx.clock,
                    ids=self.ctx.ids,
                    cause=envelope,
                    extras=self.ctx.extras,
                )
                d.handler(event, uow)
                session.flush()
        finally:
            correlation_id.reset(token)

    def _decode(self, session: Session, record: Record, result: BatchResult) -> _Decoded | None:
        """Parse a record; an invalid one is dead-lettered here (returns None)."""
        raw_handler = self.spec.raw_topics.get(record.topic)
        try:
            if record.value is None:
                raise InvalidEvent("empty record (tombstone) on an event topic")
            if raw_handler is not None:
                envelope = Envelope.from_json(record.value)
                event: DecodedEvent[Any] | None = None
            else:
                event = decode(record.value)
                envelope = event.envelope
        except InvalidEvent as exc:
            self._dead_letter(session, record, exc.reason, exc.envelope, "invalid_event")
            result.dead_lettered += 1
            result.reasons.append(exc.reason)
            return None
        except ValidationError as exc:  # the envelope itself
            reason = format_validation_error(exc)
            self._dead_letter(session, record, reason, None, "invalid_event")
            result.dead_lettered += 1
            result.reasons.append(reason)
            return None
        handler: Handler | None = raw_handler or self.spec.handlers.get(envelope.type)
        if handler is None:
            result.ignored += 1
        return _Decoded(record, envelope, event, handler)

    # -- the careful path: one savepoint per event, retries, dead letters ---------------------
    def _process_one(self, session: Session, record: Record, result: BatchResult) -> None:
        d = self._decode(session, record, result)
        if d is None:
            return
        envelope, handler = d.envelope, d.handler
        label = event_label(envelope.type)
        if handler is None:
            EVENTS_CONSUMED.labels(self.spec.name, label, "ignored").inc()
            return

        if envelope.id not in self._claim(session, [d]):
            result.duplicates += 1
            EVENTS_CONSUMED.labels(self.spec.name, label, "duplicate").inc()
            return

        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            savepoint = session.begin_nested()
            started = time.perf_counter()
            try:
                self._invoke(session, d)
                savepoint.commit()
                HANDLER_SECONDS.labels(self.spec.name, label).observe(time.perf_counter() - started)
                EVENTS_CONSUMED.labels(self.spec.name, label, "processed").inc()
                result.processed += 1
                return
            except Exception as exc:
                savepoint.rollback()
                if _is_infrastructure(exc):
                    raise
                EVENTS_FAILED.labels(self.spec.name, label).inc()
                last_error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, InvalidEvent):
                    break  # a handler-level validation failure will not pass on retry
                log.warning(
                    "handler failed (attempt %s/%s) for %s %s: %s",
                    attempt,
                    self.max_attempts,
                    envelope.type,
                    envelope.id,
                    last_error,
                )
        # give up: forget the inbox row so a replay from the dead-letter topic is processed
        inbox = self.spec.tables.inbox
        session.execute(
            inbox.delete().where(inbox.c.consumer == self.spec.name, inbox.c.event_id == envelope.id)
        )
        self._dead_letter(session, d.record, last_error, envelope, "handler_failed")
        result.dead_lettered += 1
        result.reasons.append(last_error)

    def _dead_letter(
        self, session: Session, record: Record, reason: str, envelope: Envelope | None, kind: str
    ) -> None:
        log.error(
            "dead-lettering record %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason
        )
        EVENTS_CONSUMED.labels(
            self.spec.name, event_label(envelope.type if envelope else None), "dead_lettered"
        ).inc()
        headers = {
            "dlq_reason": reason[:4000],
            "dlq_kind": kind,
            "dlq_service": self.spec.name,
            "dlq_topic": record.topic,
            "dlq_partition": str(record.partition),
            "dlq_offset": str(record.offset),
            "dlq_at": self.ctx.clock.now().isoformat(),
        }
        if envelope is not None:
            headers["dlq_event_id"] = envelope.id
            headers["dlq_event_type"] = envelope.type
        uow = UnitOfWork(
            session,
            service=self.spec.name,
            tables=self.spec.tables,
            clock=self.ctx.clock,
            ids=self.ctx.ids,
            cause_key=f"{record.topic}:{record.partition}:{record.offset}",
        )
        uow.dead_letter(
            topic=Topics.DEAD_LETTER,
            key=record.key.decode(errors="replace") if record.key else None,
            value=record.value or b"",
            headers=headers,
        )
