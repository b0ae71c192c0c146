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
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import propagate, trace
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import DecodedEvent, InvalidEvent, decode, decode_envelope
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
        result = BatchResult()
        if not records:
            return result
        try:
            with self.ctx.sessions() as session, session.begin():
                for record in records:
                    self._process_one(session, record, result)
        except Exception as exc:
            if _is_infrastructure(exc):
                raise InfrastructureError(str(exc)) from exc
            raise
        self.ctx.notify_committed()
        return result

    # -- one record -------------------------------------------------------
    def _process_one(self, session: Session, record: Record, result: BatchResult) -> None:
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
            return
        except Exception as exc:  # pydantic errors on the envelope itself
            from pydantic import ValidationError

            from libs.events.registry import format_validation_error

            reason = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            self._dead_letter(session, record, reason, None, "invalid_event")
            result.dead_lettered += 1
            result.reasons.append(reason)
            return

        handler: Handler | None = raw_handler or self.spec.handlers.get(envelope.type)
        label = event_label(envelope.type)
        if handler is None:
            result.ignored += 1
            EVENTS_CONSUMED.labels(self.spec.name, label, "ignored").inc()
            return

        inbox = self.spec.tables.inbox
        inserted = session.execute(
            pg_insert(inbox)
            .values(
                consumer=self.spec.name,
                event_id=envelope.id,
                event_type=envelope.type,
                processed_at=self.ctx.clock.now(),
            )
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        ).first()
        if inserted is None:
            result.duplicates += 1
            EVENTS_CONSUMED.labels(self.spec.name, label, "duplicate").inc()
            return

        if event is None:
            event = DecodedEvent(envelope=envelope, payload=None)  # type: ignore[arg-type]
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            savepoint = session.begin_nested()
            started = time.perf_counter()
            token = correlation_id.set(envelope.correlationid or envelope.id)
            ctx = propagate.extract(
                {"traceparent": envelope.traceparent or "", "tracestate": envelope.tracestate or ""}
            )
            try:
                with tracer.start_as_current_span(
                    f"handle {envelope.type}",
                    context=ctx,
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
                    handler(event, uow)
                    session.flush()
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
            finally:
                correlation_id.reset(token)
        # give up: forget the inbox row so a replay from the dead-letter topic is processed
        session.execute(
            inbox.delete().where(inbox.c.consumer == self.spec.name, inbox.c.event_id == envelope.id)
        )
        self._dead_letter(session, record, last_error, envelope, "handler_failed")
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


def redecode(envelope: Envelope) -> DecodedEvent[Any]:
    """For raw-topic handlers that validate an inbound envelope themselves."""
    return decode_envelope(envelope)
