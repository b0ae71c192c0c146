"""The unit of work a handler receives: one Postgres transaction, the clock, and the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from psycopg.types.json import Jsonb
from sqlalchemy import delete, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from libs.events.envelope import Envelope
from libs.events.payloads.base import EventPayload
from libs.events.types import printable_identifier
from libs.runtime.clock import Clock
from libs.runtime.ids import IdFactory, cause_key, derived_id
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


COPY_MIN_ROWS = 200
"""From this many outbox rows on, ``forward_many`` writes them with COPY (cheaper per row than a
multi-row INSERT; a COPY's own setup costs more than a small insert)."""
_OUTBOX_COLUMNS = ("tenant_id", "event_id", "event_type", "topic", "key", "value", "headers", "created_at")


_ENVELOPE_DEFAULTS = {"specversion": "1.0", "datacontenttype": "application/json", "dataschema": None}
_serialize_envelope = Envelope.__pydantic_serializer__.to_json
"""``Envelope.to_json_bytes`` without the method's per-call lookups (``exclude_none=True``)."""
_MAX_IDENTIFIER = 200
"""The envelope's bound on ``id`` and ``subject`` (``Envelope.model_fields``)."""


def _trusted_envelope(
    *,
    id: str,
    source: str,
    type: str,
    time: datetime,
    subject: str | None,
    data: dict[str, Any],
    tenantid: str,
    correlationid: str | None,
    causationid: str | None,
    schemaversion: int,
    traceparent: str | None,
    tracestate: str | None,
) -> Envelope:
    """An ``Envelope`` of values already valid, without validating them again (``model_construct``'s
    work without its per-call overhead; fields in declaration order, so the JSON is byte for byte
    what a validated envelope gives: tests/unit/runtime/test_emission.py holds it to that)."""
    values = {
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": type,
        "time": time,
        "subject": subject,
        "datacontenttype": "application/json",
        "dataschema": None,
        "data": data,
        "tenantid": tenantid,
        "correlationid": correlationid,
        "causationid": causationid,
        "schemaversion": schemaversion,
        "traceparent": traceparent,
        "tracestate": tracestate,
    }
    envelope = Envelope.__new__(Envelope)
    object.__setattr__(envelope, "__dict__", values)
    object.__setattr__(envelope, "__pydantic_fields_set__", set(values) - _ENVELOPE_DEFAULTS.keys())
    object.__setattr__(envelope, "__pydantic_extra__", {})
    object.__setattr__(envelope, "__pydantic_private__", None)
    return envelope


def _identifier(value: str, what: str) -> str:
    """What the envelope checks of an ``id``/``subject`` a handler chose (the rest the runtime holds valid)."""
    if not isinstance(value, str) or not value or len(value) > _MAX_IDENTIFIER:
        raise ValueError(f"an emitted event's {what} must be a string of 1 to {_MAX_IDENTIFIER} characters")
    return printable_identifier(value)


_REQUIRED_FIELDS: dict[type[EventPayload], frozenset[str]] = {}
_CHECKED_TYPES: set[type[EventPayload]] = set()
"""Payload classes whose event type and version went through a validated envelope once."""


def _payload_data(payload: EventPayload) -> dict[str, Any]:
    """The payload as the envelope's ``data``; a payload that is not a whole, well-typed model fails here.

    Handlers pass validated models (their constructor validates): one ``model_construct``-ed with a
    required field missing, or a value of the wrong type, raises instead of reaching the outbox.
    """
    cls = type(payload)
    required = _REQUIRED_FIELDS.get(cls)
    if required is None:
        if not isinstance(payload, EventPayload):
            raise TypeError(f"emit takes an EventPayload, not {cls.__name__}")
        required = _REQUIRED_FIELDS[cls] = frozenset(
            name for name, info in cls.model_fields.items() if info.is_required()
        )
    missing = required - payload.__pydantic_fields_set__
    if missing:
        raise ValueError(f"{cls.__name__} emitted without {', '.join(sorted(missing))}")
    return payload.model_dump(mode="json", exclude_none=True, warnings="error")


@dataclass(frozen=True)
class DueTimer:
    name: str
    key: str
    fire_at: datetime
    data: dict[str, Any]
    tenant: str


@dataclass
class _Emissions:
    """What a unit of work and its per-event views share: id counters per cause, events emitted."""

    counters: dict[str, int] = field(default_factory=dict)
    emitted: list[Envelope] = field(default_factory=list)


class UnitOfWork:
    """Handlers write through ``session`` and announce facts through ``emit``.

    Both land in the same transaction; nothing reaches Kafka until it commits,
    and the relay publishes what did.

    A per-event handler's unit of work has one ``cause``: emitted ids derive from
    it, correlation and causation follow it, ``tenant`` is its tenant. A batch
    handler's has none of its own (``batch=True``; one tenant per batch): it emits
    with ``cause=event.envelope`` (or through ``for_event(envelope)``), which gives
    each emitted event exactly the id, correlation and causation the per-event path
    would have given it. Emitting in a batch without a cause is an error: an id
    that depends on how the broker happened to batch would not be idempotent.
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
        batch: bool = False,
        _emissions: _Emissions | None = None,
    ) -> None:
        self.session = session
        self.extras: dict[str, Any] = extras if extras is not None else {}
        """The service context's extras (e.g. the simulator's ``config_dir``), read-only by convention."""
        self.service = service
        self.clock = clock
        self._tables = tables
        self._ids = ids
        self.cause = cause
        self.batch = batch
        if cause_key is None and cause is not None:
            cause_key = cause_key_of(cause)
        self._cause_key = cause_key
        self.tenant = cause.tenantid if cause else tenant
        self.correlation_id = (cause.correlationid or cause.id) if cause else correlation_id
        self._shared = _emissions or _Emissions()
        self._views: dict[str, UnitOfWork] = {}
        # tenant, correlation and causation come from a validated envelope, or were checked once
        # through a validated envelope of this unit's first emission
        self._trusted = cause is not None

    @property
    def emitted(self) -> list[Envelope]:
        """Every envelope emitted or forwarded in this transaction (by this unit and its views)."""
        return self._shared.emitted

    def now(self) -> datetime:
        return self.clock.now()

    def for_event(self, envelope: Envelope) -> UnitOfWork:
        """The same transaction seen from one event of a batch: its tenant, its cause for ids and tracing."""
        if self.cause is not None and envelope is self.cause:
            return self
        key = cause_key_of(envelope)
        view = self._views.get(key)
        if view is None:
            view = UnitOfWork(
                self.session,
                service=self.service,
                tables=self._tables,
                clock=self.clock,
                ids=self._ids,
                cause=envelope,
                extras=self.extras,
                _emissions=self._shared,
            )
            self._views[key] = view
        return view

    def _next_id(self, scope: str) -> str:
        if self._cause_key is not None:
            index = self._shared.counters.get(self._cause_key, 0) + 1
            self._shared.counters[self._cause_key] = index
            return derived_id(self._cause_key, self.service, index)
        if self.batch:
            raise ValueError(
                f"{self.service}: a batch unit of work emits with cause=<the event's envelope> "
                "(or through uow.for_event(envelope)), so emitted ids stay derived from their cause"
            )
        return self._ids.new(f"{self.service}|{scope}")

    def _trace_carrier(self, current: dict[str, str] | None = None) -> dict[str, str]:
        """The trace an emitted event carries: the current span's, unless the event's cause belongs to
        another trace (a batch span continues only its first event's trace): then the cause's own.

        ``current``: the current span's carrier, when the caller injected it once for many events."""
        if current is None:
            current = {}
            propagate.inject(current)
        carrier = current
        cause = self.cause
        if cause is not None and cause.traceparent:
            cause_trace = cause.traceparent.split("-")[1] if cause.traceparent.count("-") == 3 else None
            span = current.get("traceparent", "")
            if cause_trace and (span.count("-") != 3 or span.split("-")[1] != cause_trace):
                carrier = {"traceparent": cause.traceparent}
                if cause.tracestate:
                    carrier["tracestate"] = cause.tracestate
        return carrier

    def _envelope(
        self,
        payload: EventPayload,
        subject: str | None,
        event_id: str | None,
        current: dict[str, str] | None = None,
    ) -> Envelope:
        """The envelope of an emitted payload, validated once, not again field by field.

        The payload is a validated model (checked whole by ``_payload_data``); what a handler may choose
        besides it (``subject``, ``event_id``) is checked as the envelope would. The rest is the
        runtime's own: the first emission of a payload class, and of a unit not seen from a validated
        cause, goes through a fully validated ``Envelope``; later ones are built without it.
        """
        carrier = self._trace_carrier(current)
        data = _payload_data(payload)
        cls = type(payload)
        values: dict[str, Any] = {
            "id": event_id or self._next_id(payload.event_type),
            "source": f"/cobranza/{self.service}",
            "type": payload.event_type,
            "time": self.now(),
            "subject": subject if subject is not None else payload.subject(),
            "data": data,
            "tenantid": self.tenant,
            "correlationid": self.correlation_id or None,
            "causationid": self.cause.id if self.cause else None,
            "schemaversion": payload.version,
            "traceparent": carrier.get("traceparent"),
            "tracestate": carrier.get("tracestate"),
        }
        if not self._trusted or cls not in _CHECKED_TYPES:
            envelope = Envelope(**values)
            self._trusted = True
            _CHECKED_TYPES.add(cls)
            return envelope
        if event_id is not None:
            _identifier(event_id, "id")
        if values["subject"] is not None:
            _identifier(values["subject"], "subject")
        if values["time"].tzinfo is None:
            raise ValueError("an emitted event's time must be timezone-aware")
        return _trusted_envelope(**values)

    def _caused(self, cause: Envelope | None) -> UnitOfWork:
        return self if cause is None else self.for_event(cause)

    def emit(
        self,
        payload: EventPayload,
        *,
        subject: str | None = None,
        event_id: str | None = None,
        cause: Envelope | None = None,
    ) -> Envelope:
        """Queue ``payload`` for publication on its catalog topic, keyed by account id.

        ``cause``: the event of a batch this one answers (ids, tenant, correlation follow it).
        """
        owner = self._caused(cause)
        envelope = owner._envelope(payload, subject, event_id)
        self.forward(envelope, payload.topic)
        return envelope

    def emit_many(
        self,
        payloads: Iterable[EventPayload],
        chunk_size: int = 1000,
        *,
        causes: Iterable[Envelope | None] | None = None,
    ) -> int:
        """``emit`` for set-based work: multi-row outbox inserts, in order.

        ``causes``, when given, runs beside ``payloads`` (same length): the causing event of each,
        as ``emit(..., cause=)`` takes it; ``None`` in it means this unit's own cause.
        """
        chunk: list[tuple[Envelope, str]] = []
        count = 0
        current: dict[str, str] = {}
        propagate.inject(current)  # one span for the whole call
        pairs: Iterable[tuple[EventPayload, Envelope | None]] = (
            ((p, None) for p in payloads) if causes is None else zip(payloads, causes, strict=True)
        )
        for payload, cause in pairs:
            chunk.append((self._caused(cause)._envelope(payload, None, None, current), payload.topic))
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
        """``forward`` for a batch (file imports): one multi-row outbox insert instead of one per event;
        from ``COPY_MIN_ROWS`` rows on, one COPY (the same rows, in order, in the same transaction)."""
        if not items:
            return
        now = self.now()
        rows = [
            (
                envelope.tenantid,
                envelope.id,
                envelope.type,
                topic,
                envelope.subject,
                _serialize_envelope(envelope, exclude_none=True),
                _headers(envelope),
                now,
            )
            for envelope, topic in items
        ]
        if len(rows) >= COPY_MIN_ROWS:
            self._copy_outbox(rows)
        else:
            self.session.execute(
                insert(self._tables.outbox), [dict(zip(_OUTBOX_COLUMNS, r, strict=True)) for r in rows]
            )
        self._shared.emitted.extend(envelope for envelope, _ in items)

    def _copy_outbox(self, rows: Sequence[tuple[Any, ...]]) -> None:
        driver = self.session.connection().connection.driver_connection
        assert driver is not None, "a live psycopg connection inside the transaction"
        statement = f"COPY {self._tables.outbox.fullname} ({', '.join(_OUTBOX_COLUMNS)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row((*row[:6], Jsonb(row[6]), row[7]))

    def dead_letter(self, *, topic: str, key: str | None, value: bytes, headers: dict[str, str]) -> None:
        self.session.execute(
            insert(self._tables.outbox).values(
                tenant_id=headers.get("dlq_tenant") or self.tenant,
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
        """Ask to be woken at ``at`` (idempotent per tenant, name and key: the latest call wins)."""
        if at.tzinfo is None:
            raise ValueError("timers need a timezone-aware time")
        stmt = pg_insert(self._tables.timers).values(
            tenant_id=self.tenant, name=name, key=key, fire_at=at, data=data or {}
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "name", "key"], set_={"fire_at": at, "data": data or {}}
        )
        self.session.execute(stmt)

    def schedule_many(self, name: str, items: Iterable[tuple[str, datetime]]) -> None:
        """``schedule`` for a batch: one multi-row upsert of this tenant's timers ``name`` (key, at).

        A key given twice keeps its last time, as successive ``schedule`` calls would.
        """
        latest: dict[str, datetime] = {}
        for key, at in items:
            if at.tzinfo is None:
                raise ValueError("timers need a timezone-aware time")
            latest.pop(key, None)
            latest[key] = at
        if not latest:
            return
        keys = sorted(latest)
        self.session.execute(
            text(
                f"INSERT INTO {self._tables.timers.fullname} (tenant_id, name, key, fire_at, data) "
                "SELECT :tenant, :name, v.key, v.fire_at, '{}'::jsonb "
                "FROM unnest(CAST(:keys AS text[]), CAST(:fire_at AS timestamptz[])) AS v(key, fire_at) "
                "ON CONFLICT (tenant_id, name, key) DO UPDATE SET fire_at = EXCLUDED.fire_at, data = EXCLUDED.data"
            ),
            {"tenant": self.tenant, "name": name, "keys": keys, "fire_at": [latest[k] for k in keys]},
        )

    def cancel_many(self, name: str, keys: Iterable[str]) -> None:
        """``cancel`` for a batch: one delete of this tenant's timers ``name`` with these keys."""
        wanted = sorted(set(keys))
        if not wanted:
            return
        self.session.execute(
            text(
                f"DELETE FROM {self._tables.timers.fullname} "
                "WHERE tenant_id = :tenant AND name = :name AND key = ANY(CAST(:keys AS text[]))"
            ),
            {"tenant": self.tenant, "name": name, "keys": wanted},
        )

    def cancel(self, name: str, key: str) -> None:
        """Forget this tenant's timer ``name``/``key`` (a no-op when there is none)."""
        timers = self._tables.timers
        self.session.execute(
            delete(timers).where(
                timers.c.tenant_id == self.tenant, timers.c.name == name, timers.c.key == key
            )
        )


def cause_key_of(envelope: Envelope) -> str:
    """How derived ids name a causing event: (tenant, source, id), never the id alone."""
    return cause_key(envelope.tenantid, envelope.source, envelope.id)
