"""Publishes committed outbox rows, in order, and retries what failed.

One relay per service at a time (an advisory lock), rows locked while in
flight. Only the prefix delivered before the first failure is marked
published; the rest is sent again next round, which can repeat a record but
never reorders an account's events: consumers drop repeats by event id.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, delete, select, text, update

from libs.runtime.context import ServiceContext
from libs.runtime.observability import EVENTS_EMITTED, event_label
from libs.runtime.transport.base import OutgoingRecord, Publisher

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, ctx: ServiceContext, publisher: Publisher) -> None:
        self.ctx = ctx
        self.publisher = publisher
        self.outbox = ctx.spec.tables.outbox
        self.batch_size = ctx.settings.relay_batch_size

    def relay_once(self) -> int:
        """Publish up to one batch; return how many rows were marked published."""
        outbox = self.outbox
        with self.ctx.sessions() as session, session.begin():
            locked = session.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                {"k": f"cobranza.relay.{self.ctx.name}"},
            ).scalar()
            if not locked:
                return 0
            rows = session.execute(
                select(
                    outbox.c.id,
                    outbox.c.topic,
                    outbox.c.key,
                    outbox.c.value,
                    outbox.c.headers,
                    outbox.c.event_type,
                )
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(self.batch_size)
            ).all()
            if not rows:
                return 0
            errors = self.publisher.publish(
                [OutgoingRecord(r.topic, r.key, bytes(r.value), dict(r.headers)) for r in rows]
            )
            delivered = []
            for row, error in zip(rows, errors, strict=True):
                if error is not None:
                    session.execute(
                        update(outbox)
                        .where(outbox.c.id == row.id, outbox.c.published_at.is_(None))
                        .values(attempts=outbox.c.attempts + 1, last_error=error[:2000])
                    )
                    log.warning("outbox row %s not delivered: %s", row.id, error)
                    break
                delivered.append(row.id)
                EVENTS_EMITTED.labels(self.ctx.name, event_label(row.event_type)).inc()
            if delivered:
                # "published_at IS NULL" lets the pending index find the rows (the key leads with the tenant)
                session.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(delivered), outbox.c.published_at.is_(None))
                    .values(published_at=self.ctx.clock.now())
                )
            return len(delivered)

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
