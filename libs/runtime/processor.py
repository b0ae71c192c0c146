"""Turns a batch of broker records into handler calls, exactly once in effect.

For each batch, one Postgres transaction holds, per event: the inbox row (so a
redelivered event is skipped), the handler's writes and the events it emits
(outbox). An event is the same event only if its (tenant, source, id) is: a
CloudEvents id is unique per source, and tenants never share ids. A record whose
``ce_type`` header names a type the service has no handler for is counted as
ignored before anything else: not decoded, no inbox row, never dead-lettered here.

Fresh events go to their handlers as *units*: one event for a per-event handler,
a run of events for a batch handler (every event of its types in the batch that
can go together without overtaking another event of the same account, one
tenant per run). Units run in an order that keeps each account's events in
arrival order.

The fast path runs every unit in one transaction without savepoints. When a
handler raises, the batch is redone carefully: each unit in a savepoint, a
failing batch unit bisected down to the event that fails alone, which is retried
and then dead-lettered (an outbox row to the dead-letter topic with the reason)
while everything else commits. A record that does not decode is dead-lettered
with its field paths. Database outages abort the whole batch so the caller can
retry it: offsets are committed only after this returns.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import propagate, trace
from pydantic import ValidationError
from sqlalchemy import text, tuple_
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from libs.events.catalog import Topics
from libs.events.envelope import Envelope
from libs.events.registry import DecodedEvent, InvalidEvent, decode, format_validation_error
from libs.events.types import addresses_memoised
from libs.runtime.context import ServiceContext
from libs.runtime.observability import (
    BATCH_HANDLER_SECONDS,
    BATCH_SECONDS,
    BATCH_SIZE,
    EVENTS_CONSUMED,
    EVENTS_FAILED,
    HANDLER_SECONDS,
    correlation_id,
    event_label,
    handler_label,
)
from libs.runtime.redaction import redact
from libs.runtime.service import BatchHandler, Handler
from libs.runtime.transport.base import Record
from libs.runtime.uow import UnitOfWork

log = logging.getLogger(__name__)
tracer = trace.get_tracer("cobranza.runtime")


class InfrastructureError(RuntimeError):
    """The database went away mid-batch; nothing was committed, retry the batch."""


@dataclass
class _HandlerFailed(Exception):
    """A handler raised on the fast path: redo the batch with one savepoint per event."""


EventKey = tuple[str, str, str]
"""(tenant, source, id): what makes two CloudEvents the same event."""


def event_key(envelope: Envelope) -> EventKey:
    return (envelope.tenantid, envelope.source, envelope.id)


@dataclass(frozen=True)
class _Decoded:
    record: Record
    envelope: Envelope
    event: DecodedEvent[Any] | None
    handler: Handler | None
    batch_handler: BatchHandler | None = None

    @property
    def key(self) -> EventKey:
        return event_key(self.envelope)

    @property
    def handled(self) -> bool:
        return self.handler is not None or self.batch_handler is not None

    @property
    def account(self) -> tuple[str, bytes | str | None]:
        """What per-account order is kept by: the record key (the account), within the tenant."""
        return (
            self.envelope.tenantid,
            self.record.key if self.record.key is not None else self.envelope.subject,
        )

    def decoded_event(self) -> DecodedEvent[Any]:
        if self.event is not None:
            return self.event
        return DecodedEvent(envelope=self.envelope, payload=None)  # type: ignore[arg-type, type-var]


@dataclass
class _Unit:
    """One handler call: a per-event handler with its event, or a batch handler with a run of events."""

    events: list[_Decoded]
    batch_handler: BatchHandler | None = None


def plan_units(fresh: Sequence[_Decoded]) -> list[_Unit]:
    """Group fresh events into handler calls without letting an event overtake one of its account.

    An event joins the latest run of its batch handler (same tenant) when no later unit holds an
    event of its account; else it opens a new unit at the end. A record with no key has no account
    to order by, so it is a barrier nothing moves across. Deterministic for a given batch.
    """
    units: list[_Unit] = []
    latest_run: dict[tuple[int, str], int] = {}
    last_unit_of: dict[tuple[str, bytes | str], int] = {}
    barrier = -1
    for d in fresh:
        tenant, key = d.account
        # the earliest unit this event may join without overtaking its account (or a keyless barrier)
        floor = len(units) - 1 if key is None else max(barrier, last_unit_of.get((tenant, key), -1))
        if d.batch_handler is not None:
            run_key = (id(d.batch_handler), tenant)
            j = latest_run.get(run_key, -1)
            if j >= 0 and j >= floor:
                units[j].events.append(d)
                index = j
            else:
                units.append(_Unit([d], d.batch_handler))
                index = len(units) - 1
                latest_run[run_key] = index
        else:
            units.append(_Unit([d]))
            index = len(units) - 1
        if key is None:
            barrier = index
        else:
            last_unit_of[(tenant, key)] = index
    return units


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    reasons: list[str] = field(default_factory=list)


TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003", "08006"})
"""Serialization failure, deadlock, admin shutdown, connection failures: retry the batch, not the event."""


def _is_infrastructure(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES
    return False


@dataclass
class _Infrastructure(Exception):
    """Carries a database outage through the retry loop without it being retried there."""

    error: BaseException


class EventProcessor:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.max_attempts = ctx.settings.handler_max_attempts
        self.sleep: Callable[[float], None] = time.sleep
        self._handled_types = frozenset((*self.spec.handlers, *self.spec.batch_handlers))
        self._raw_topics = frozenset((*self.spec.raw_topics, *self.spec.raw_batch_topics))
        inbox = self.spec.tables.inbox
        self._claim_sql = text(
            f'INSERT INTO "{inbox.schema}".inbox '
            "(tenant_id, consumer, source, event_id, event_type, processed_at) "
            "SELECT r->>0, :consumer, r->>1, r->>2, r->>3, :at FROM json_array_elements(CAST(:rows AS json)) AS r "
            "ON CONFLICT DO NOTHING RETURNING tenant_id, source, event_id"
        )

    def process(self, records: list[Record]) -> BatchResult:
        """Handle a batch: optimistically in one transaction; unit by unit with savepoints if a handler fails."""
        if not records:
            return BatchResult()
        started = time.perf_counter()
        try:
            with addresses_memoised():
                try:
                    with self.ctx.sessions() as session, session.begin():
                        result, counts = self._run(session, records, careful=False)
                except _HandlerFailed:
                    with self.ctx.sessions() as session, session.begin():
                        result, counts = self._run(session, records, careful=True)
        except Exception as exc:
            if _is_infrastructure(exc):
                raise InfrastructureError(str(exc)) from exc
            raise
        for (label, outcome), n in counts.items():
            EVENTS_CONSUMED.labels(self.spec.name, label, outcome).inc(n)
        BATCH_SIZE.labels(self.spec.name).observe(len(records))
        BATCH_SECONDS.labels(self.spec.name).observe(time.perf_counter() - started)
        self.ctx.notify_committed()
        return result

    def _run(
        self, session: Session, records: list[Record], *, careful: bool
    ) -> tuple[BatchResult, Counter[tuple[str, str]]]:
        result = BatchResult()
        counts: Counter[tuple[str, str]] = Counter()
        decoded = []
        for record in records:
            unhandled = self._unhandled_type(record)
            if unhandled is not None:  # ignored before decoding: no parse, no inbox row
                result.ignored += 1
                counts[(event_label(unhandled), "ignored")] += 1
                continue
            d = self._decode(session, record, result, counts)
            if d is not None:
                decoded.append(d)
        handled = []
        for d in decoded:
            if d.handled:
                handled.append(d)
            else:
                result.ignored += 1
                counts[(event_label(d.envelope.type), "ignored")] += 1
        claimed = self._claim(session, handled)
        fresh = []
        for d in handled:
            if d.key in claimed:
                claimed.discard(d.key)  # a repeat inside the same batch is a duplicate too
                fresh.append(d)
            else:
                result.duplicates += 1
                counts[(event_label(d.envelope.type), "duplicate")] += 1
        for unit in plan_units(fresh):
            if careful:
                self._run_carefully(session, unit, result, counts)
                continue
            try:
                self._call(session, unit)
            except Exception as exc:
                if _is_infrastructure(exc):
                    raise
                raise _HandlerFailed from exc
            self._count_processed(unit.events, result, counts)
        return result, counts

    @staticmethod
    def _count_processed(
        events: Sequence[_Decoded], result: BatchResult, counts: Counter[tuple[str, str]]
    ) -> None:
        for d in events:
            counts[(event_label(d.envelope.type), "processed")] += 1
        result.processed += len(events)

    def _claim(self, session: Session, handled: list[_Decoded]) -> set[EventKey]:
        """Insert the batch's inbox rows in one statement; the keys that were new are the events to handle.

        One JSON parameter of [tenant, source, id, type] rows: the same SQL text whatever the batch size
        (prepared once), and one string to bind instead of four lists adapted element by element.
        """
        if not handled:
            return set()
        rows = {d.key: d.envelope.type for d in handled}
        inserted = session.execute(
            self._claim_sql,
            {
                "consumer": self.spec.name,
                "at": self.ctx.clock.now(),
                "rows": json.dumps([(*key, event_type) for key, event_type in rows.items()]),
            },
        )
        return {(row[0], row[1], row[2]) for row in inserted}

    def _release(self, session: Session, d: _Decoded) -> None:
        """Forget an event's inbox row, so a replay from the dead-letter topic is handled."""
        inbox = self.spec.tables.inbox
        session.execute(
            inbox.delete().where(
                inbox.c.consumer == self.spec.name,
                tuple_(inbox.c.tenant_id, inbox.c.source, inbox.c.event_id) == tuple_(*d.key),
            )
        )

    # -- handler calls --------------------------------------------------------------------
    def _call(self, session: Session, unit: _Unit) -> None:
        if unit.batch_handler is None:
            self._invoke(session, unit.events[0])
        else:
            self._invoke_batch(session, unit.batch_handler, unit.events)

    def _invoke(self, session: Session, d: _Decoded) -> None:
        envelope = d.envelope
        assert d.handler is not None
        token = correlation_id.set(envelope.correlationid or envelope.id)
        parent = propagate.extract(
            {"traceparent": envelope.traceparent or "", "tracestate": envelope.tracestate or ""}
        )
        started = time.perf_counter()
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
                d.handler(d.decoded_event(), uow)
                session.flush()
        finally:
            correlation_id.reset(token)
        HANDLER_SECONDS.labels(self.spec.name, event_label(envelope.type)).observe(
            time.perf_counter() - started
        )

    def _invoke_batch(self, session: Session, handler: BatchHandler, events: Sequence[_Decoded]) -> None:
        first = events[0].envelope
        name = handler_label(handler)
        started = time.perf_counter()
        # the batch continues the trace of its first traced event and links the others' traces
        traced = next((d.envelope for d in events if d.envelope.traceparent), None)
        parent = (
            propagate.extract(
                {"traceparent": traced.traceparent or "", "tracestate": traced.tracestate or ""}
            )
            if traced is not None
            else None
        )
        with tracer.start_as_current_span(
            f"handle batch {name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "cobranza.service": self.spec.name,
                "messaging.batch.message_count": len(events),
            },
            links=[
                trace.Link(ctx)
                for ctx in (
                    trace.get_current_span(
                        propagate.extract({"traceparent": d.envelope.traceparent or ""})
                    ).get_span_context()
                    for d in events[:32]
                )
                if ctx.is_valid
            ],
        ):
            uow = UnitOfWork(
                session,
                service=self.spec.name,
                tables=self.spec.tables,
                clock=self.ctx.clock,
                ids=self.ctx.ids,
                tenant=first.tenantid,
                extras=self.ctx.extras,
                batch=True,
            )
            handler([d.decoded_event() for d in events], uow)
            session.flush()
        BATCH_HANDLER_SECONDS.labels(self.spec.name, name).observe(time.perf_counter() - started)

    # -- the careful path: savepoints, bisection, retries, dead letters -----------------------
    def _run_carefully(
        self, session: Session, unit: _Unit, result: BatchResult, counts: Counter[tuple[str, str]]
    ) -> None:
        if unit.batch_handler is None or len(unit.events) == 1:
            self._retry_alone(session, unit, result, counts)
            return
        savepoint = session.begin_nested()
        try:
            self._call(session, unit)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            if _is_infrastructure(exc):
                raise
            log.info(
                "batch of %s failed (%s: %s); bisecting to find the event that fails",
                len(unit.events),
                type(exc).__name__,
                exc,
            )
            middle = len(unit.events) // 2
            for half in (unit.events[:middle], unit.events[middle:]):
                self._run_carefully(session, _Unit(half, unit.batch_handler), result, counts)
            return
        self._count_processed(unit.events, result, counts)

    def _retry_alone(
        self, session: Session, unit: _Unit, result: BatchResult, counts: Counter[tuple[str, str]]
    ) -> None:
        """Retry one failing event with exponential backoff, then dead-letter it.

        The retries happen where the event stands in its batch, so its partition waits for it: no later
        event of its account (nor of the partition) is applied ahead of it. Holding the partition keeps
        order without a side store of held-back events; the cost is bounded by the backoff budget
        (``handler_max_attempts``, ``handler_retry_backoff_s`` doubling up to ``..._max_s``). Database
        outages (connection lost, serialization failure, deadlock) are not handler failures: they abort
        the batch, which the consumer retries whole, and never count toward a dead letter.
        """
        (d,) = unit.events
        label = event_label(d.envelope.type)
        last_error = ""
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.max_attempts)),
            wait=wait_exponential(
                multiplier=self.ctx.settings.handler_retry_backoff_s,
                max=self.ctx.settings.handler_retry_backoff_max_s,
            ),
            retry=retry_if_exception(lambda exc: not isinstance(exc, (InvalidEvent, _Infrastructure))),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    savepoint = session.begin_nested()
                    try:
                        self._call(session, unit)
                        savepoint.commit()
                    except Exception as exc:
                        savepoint.rollback()
                        if _is_infrastructure(exc):
                            raise _Infrastructure(exc) from exc
                        EVENTS_FAILED.labels(self.spec.name, label).inc()
                        last_error = redact(f"{type(exc).__name__}: {exc}")
                        log.warning(
                            "handler failed (attempt %s/%s) for %s %s from %s: %s",
                            number,
                            self.max_attempts,
                            d.envelope.type,
                            d.envelope.id,
                            d.envelope.source,
                            last_error,
                        )
                        raise
        except _Infrastructure as wrapped:
            raise wrapped.error from None
        except Exception:
            self._release(session, d)
            self._dead_letter(session, d.record, last_error, d.envelope, "handler_failed", counts)
            result.dead_lettered += 1
            result.reasons.append(last_error)
            return
        self._count_processed(unit.events, result, counts)

    # -- decoding and dead letters -----------------------------------------------------------
    def _unhandled_type(self, record: Record) -> str | None:
        """The ``ce_type`` header of a record the service has no handler for, or None: decode it.

        A service reading a topic for one of its types (aging and reporting read customers only for
        ``customer.erased``) skips the others on the header the relay writes, without parsing them.
        Such a record is ignored even if its value is malformed: it is not this service's to judge
        (the services that handle the type dead-letter it). A record without the header, and every
        record of a raw topic, is decoded.
        """
        if record.topic in self._raw_topics:
            return None
        for name, value in record.headers:
            if name == "ce_type":
                event_type = value.decode(errors="replace")
                return None if event_type in self._handled_types else event_type
        return None

    def _decode(
        self, session: Session, record: Record, result: BatchResult, counts: Counter[tuple[str, str]]
    ) -> _Decoded | None:
        """Parse a record; an invalid one is dead-lettered here (returns None)."""
        raw_handler = self.spec.raw_topics.get(record.topic)
        raw_batch_handler = self.spec.raw_batch_topics.get(record.topic)
        raw = raw_handler is not None or raw_batch_handler is not None
        try:
            if record.value is None:
                raise InvalidEvent("empty record (tombstone) on an event topic")
            if raw:
                envelope = Envelope.from_json(record.value)
                event: DecodedEvent[Any] | None = None
            else:
                event = decode(record.value)
                envelope = event.envelope
        except InvalidEvent as exc:
            self._dead_letter(session, record, exc.reason, exc.envelope, "invalid_event", counts)
            result.dead_lettered += 1
            result.reasons.append(exc.reason)
            return None
        except ValidationError as exc:  # the envelope itself
            reason = format_validation_error(exc)
            self._dead_letter(session, record, reason, None, "invalid_event", counts)
            result.dead_lettered += 1
            result.reasons.append(reason)
            return None
        if raw:
            return _Decoded(record, envelope, event, raw_handler, raw_batch_handler)
        return _Decoded(
            record,
            envelope,
            event,
            self.spec.handlers.get(envelope.type),
            self.spec.batch_handlers.get(envelope.type),
        )

    def _dead_letter(
        self,
        session: Session,
        record: Record,
        reason: str,
        envelope: Envelope | None,
        kind: str,
        counts: Counter[tuple[str, str]],
    ) -> None:
        reason = redact(reason)
        log.error(
            "dead-lettering record %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason
        )
        counts[(event_label(envelope.type if envelope else None), "dead_lettered")] += 1
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
            headers["dlq_event_source"] = envelope.source
            headers["dlq_event_type"] = envelope.type
            headers["dlq_tenant"] = envelope.tenantid
        uow = UnitOfWork(
            session,
            service=self.spec.name,
            tables=self.spec.tables,
            clock=self.ctx.clock,
            ids=self.ctx.ids,
            cause_key=f"{record.topic}:{record.partition}:{record.offset}",
            tenant=self.ctx.settings.tenant,
        )
        uow.dead_letter(
            topic=Topics.DEAD_LETTER,
            key=record.key.decode(errors="replace") if record.key else None,
            value=record.value or b"",
            headers=headers,
        )
