"""Publishes committed outbox rows, in order, and retries what failed, holding no transaction meanwhile.

One relay per service at a time: a session-level advisory lock on the relay's own connection (released
when the round ends or the connection dies). A round reads the pending rows in a short transaction,
commits, publishes them with no transaction open (a broker flush can take as long as the broker is
away), then marks what was delivered in a new transaction. Only the prefix delivered before the first
failure is marked; the rest is sent again next round, which can repeat a record but never reorders an
account's events: consumers drop repeats by event id. A relay killed between publish and mark sends the
same rows again; the inboxes drop them.

A row the broker refuses (a non-retriable error, or a retriable one while later rows of the same round
got through) counts an attempt; after ``relay_max_attempts`` it is *parked*: left unpublished with its
last error, skipped by later rounds (so the rest keeps flowing), counted by ``cobranza_outbox_parked``
and logged. A broker outage (every row failing with a retriable error) parks nothing.

Published rows are kept for ``outbox_retention_days``: they are the durable log an in-memory broker
lacks, and :func:`republish_retained` sends them again after such a broker restarts.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, func, select, text, update

from libs.runtime.context import ServiceContext
from libs.runtime.observability import EVENTS_EMITTED, event_label
from libs.runtime.transport.base import OutgoingRecord, Publisher

log = logging.getLogger(__name__)

OUTBOX_PARKED = Gauge(
    "cobranza_outbox_parked", "Outbox rows parked after repeated delivery failures", ["service"]
)
OUTBOX_PARKED_TOTAL = Counter("cobranza_outbox_rows_parked", "Outbox rows that were parked", ["service"])
RELAY_FAILURES = Counter(
    "cobranza_relay_delivery_failures_total", "Outbox rows the broker did not acknowledge", ["service"]
)


def relay_lock_key(service: str) -> str:
    return f"cobranza.relay.{service}"


def is_retriable(error: str) -> bool:
    """A publisher marks broker-side, transient errors (``PublishError.retriable``); plain text is not."""
    return bool(getattr(error, "retriable", False))


class OutboxRelay:
    def __init__(self, ctx: ServiceContext, publisher: Publisher) -> None:
        self.ctx = ctx
        self.publisher = publisher
        self.outbox = ctx.spec.tables.outbox
        self.batch_size = ctx.settings.relay_batch_size
        self.max_attempts = ctx.settings.relay_max_attempts
        self._parked_measured = False
        outbox = self.outbox
        pending = (
            select(outbox.c.id)
            .where(outbox.c.published_at.is_(None), outbox.c.attempts < self.max_attempts)
            .order_by(outbox.c.id)
            .limit(bindparam("limit"))
            .scalar_subquery()
        )
        # built once: a round is one execute of a statement SQLAlchemy has compiled already
        self._in_process_sql = (
            update(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.id.in_(pending))
            .values(published_at=bindparam("now"))
            .returning(
                outbox.c.id,
                outbox.c.topic,
                outbox.c.key,
                outbox.c.value,
                outbox.c.headers,
                outbox.c.event_type,
            )
        )

    def _pending(self) -> Any:
        outbox = self.outbox
        return (
            select(
                outbox.c.id,
                outbox.c.topic,
                outbox.c.key,
                outbox.c.value,
                outbox.c.headers,
                outbox.c.event_type,
                outbox.c.attempts,
            )
            .where(outbox.c.published_at.is_(None), outbox.c.attempts < self.max_attempts)
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )

    def relay_once(self) -> int:
        """Publish up to one batch; return how many rows were marked published."""
        with self.ctx.engine.connect() as conn:
            key = relay_lock_key(self.ctx.name)
            locked = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key}).scalar()
            conn.commit()
            if not locked:
                return 0
            try:
                if not self._parked_measured:
                    self.measure_parked(conn)
                rows = conn.execute(self._pending()).all()
                conn.commit()  # nothing held while the broker flushes
                if not rows:
                    return 0
                errors = self.publisher.publish(
                    [OutgoingRecord(r.topic, r.key, bytes(r.value), dict(r.headers)) for r in rows]
                )
                return self._mark(conn, rows, errors)
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
                conn.commit()

    def relay_in_process(self, limit: int | None = None) -> int:
        """Publish every pending row to a publisher that takes every record, one statement a round.

        For the in-memory broker (the simulator, tests): one relay in the process, a ``publish`` that
        cannot refuse a record. Each round marks up to ``limit`` pending rows published and reads them
        back in one ``UPDATE … RETURNING``, publishes them in id order and commits: a round trip per
        round instead of lock, read, commit, mark, commit and unlock. A publisher that answers an
        error (or raises) rolls the round back: the rows stay pending, as they do when the relay
        dies between publish and mark. Returns how many rows were published.
        """
        limit = limit or self.batch_size
        statement = self._in_process_sql
        total = 0
        while True:
            with self.ctx.engine.begin() as conn:
                rows = sorted(
                    conn.execute(statement, {"now": self.ctx.clock.now(), "limit": limit}).all(),
                    key=lambda r: r.id,
                )
                if rows:
                    errors = self.publisher.publish(
                        [OutgoingRecord(r.topic, r.key, bytes(r.value), dict(r.headers)) for r in rows]
                    )
                    refused = next((e for e in errors if e is not None), None)
                    if refused is not None:
                        raise RuntimeError(
                            f"{self.ctx.name}: an in-process publisher refused a record: {refused}"
                        )
            emitted = collections.Counter(r.event_type for r in rows)
            for event_type, n in emitted.items():
                EVENTS_EMITTED.labels(self.ctx.name, event_label(event_type)).inc(n)
            total += len(rows)
            if len(rows) < limit:
                return total

    def _mark(self, conn: Connection, rows: Sequence[Any], errors: list[str | None]) -> int:
        outbox = self.outbox
        delivered = []
        failed: tuple[Any, str] | None = None
        for row, error in zip(rows, errors, strict=True):
            if error is not None:
                failed = (row, error)
                break
            delivered.append(row.id)
            EVENTS_EMITTED.labels(self.ctx.name, event_label(row.event_type)).inc()
        if delivered:
            # "published_at IS NULL" lets the pending index find the rows (the key leads with the tenant)
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(delivered), outbox.c.published_at.is_(None))
                .values(published_at=self.ctx.clock.now())
            )
        if failed is not None:
            row, error = failed
            RELAY_FAILURES.labels(self.ctx.name).inc()
            later_delivered = any(e is None for e in errors[len(delivered) + 1 :])
            counts = not is_retriable(error) or later_delivered
            values: dict[str, Any] = {"last_error": error[:2000]}
            if counts:
                values["attempts"] = outbox.c.attempts + 1
            conn.execute(
                update(outbox).where(outbox.c.id == row.id, outbox.c.published_at.is_(None)).values(**values)
            )
            if counts and row.attempts + 1 >= self.max_attempts:
                OUTBOX_PARKED_TOTAL.labels(self.ctx.name).inc()
                log.error(
                    "outbox row %s (%s to %s) parked after %s failed deliveries: %s",
                    row.id,
                    row.event_type,
                    row.topic,
                    row.attempts + 1,
                    error,
                )
                self.measure_parked(conn)
            else:
                log.warning("outbox row %s not delivered: %s", row.id, error)
        conn.commit()
        return len(delivered)

    def measure_parked(self, conn: Connection | None = None) -> int:
        """Count the parked rows and set ``cobranza_outbox_parked``."""
        query = select(func.count()).where(
            self.outbox.c.published_at.is_(None), self.outbox.c.attempts >= self.max_attempts
        )
        if conn is None:
            with self.ctx.engine.connect() as own:
                parked = int(own.execute(query).scalar_one())
        else:
            parked = int(conn.execute(query).scalar_one())
        OUTBOX_PARKED.labels(self.ctx.name).set(parked)
        self._parked_measured = True
        return parked

    def parked(self, limit: int = 100) -> list[dict[str, Any]]:
        """The parked rows, oldest first: what an operator looks at before :meth:`unpark`."""
        outbox = self.outbox
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(
                    outbox.c.id, outbox.c.topic, outbox.c.event_type, outbox.c.attempts, outbox.c.last_error
                )
                .where(outbox.c.published_at.is_(None), outbox.c.attempts >= self.max_attempts)
                .order_by(outbox.c.id)
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    def unpark(self, ids: list[int] | None = None) -> int:
        """Give parked rows (all, or these ids) a fresh set of attempts."""
        outbox = self.outbox
        condition = and_(outbox.c.published_at.is_(None), outbox.c.attempts >= self.max_attempts)
        if ids is not None:
            condition = and_(condition, outbox.c.id.in_(ids))
        with self.ctx.engine.begin() as conn:
            result = conn.execute(update(outbox).where(condition).values(attempts=0))
            self.measure_parked(conn)
        return int(result.rowcount or 0)

    def drain(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            sent = self.relay_once()
            total += sent
            if sent == 0:
                break
        return total

    def purge_published(self) -> int:
        cutoff = self.ctx.clock.now() - timedelta(days=self.ctx.settings.outbox_retention_days)
        with self.ctx.sessions() as session, session.begin():
            result = session.execute(
                delete(self.outbox).where(
                    and_(self.outbox.c.published_at.is_not(None), self.outbox.c.published_at < cutoff)
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


def republish_retained(ctx: ServiceContext, since: datetime | None = None) -> int:
    """Mark every retained published row unpublished again, so the relay sends it (in id order) once more.

    For a broker that lost its log (the embedded in-memory one after a restart): the outbox is the
    durable log, the consumers' inboxes drop what they had already handled. One UPDATE under the
    relay's lock, so no relay round in flight marks a row it sent to the broker that is gone.
    ``since`` narrows it to rows published after a moment (default: the whole retention window).
    """
    outbox = ctx.spec.tables.outbox
    condition: ColumnElement[bool] = outbox.c.published_at.is_not(None)
    if since is not None:
        condition = and_(condition, outbox.c.published_at >= since)
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": relay_lock_key(ctx.name)})
        try:
            result = conn.execute(update(outbox).where(condition).values(published_at=None))
            conn.commit()
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": relay_lock_key(ctx.name)})
            conn.commit()
    count = int(result.rowcount or 0)
    if count:
        log.info("%s: %s retained outbox rows queued to be published again", ctx.name, count)
    return count
