"""Fires the durable timers handlers asked for, each in its own transaction step.

Timers are keyed by (tenant, name, key): two tenants' timers for the same
account never overwrite each other. A due row is deleted and its handler called in one savepoint, so a timer fires
once even with several replicas (rows are taken with SKIP LOCKED); a handler
that wants to be woken again simply schedules itself anew.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select

from libs.runtime.context import ServiceContext
from libs.runtime.observability import EVENTS_FAILED
from libs.runtime.uow import DueTimer, UnitOfWork

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(minutes=1)


class TimerRunner:
    def __init__(self, ctx: ServiceContext, batch_size: int = 200) -> None:
        self.ctx = ctx
        self.timers = ctx.spec.tables.timers
        self.batch_size = batch_size

    def next_fire_at(self) -> datetime | None:
        if not self.ctx.spec.timers:
            return None
        with self.ctx.sessions() as session:
            value: datetime | None = session.execute(select(func.min(self.timers.c.fire_at))).scalar()
            return value

    def run_due(self, now: datetime | None = None) -> int:
        """Fire every timer due at or before ``now``; returns how many fired."""
        if not self.ctx.spec.timers:
            return 0
        now = now or self.ctx.clock.now()
        fired = 0
        t = self.timers
        while True:
            with self.ctx.sessions() as session, session.begin():
                rows = session.execute(
                    select(t)
                    .where(t.c.fire_at <= now)
                    .order_by(t.c.fire_at, t.c.tenant_id, t.c.name, t.c.key)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                ).all()
                for row in rows:
                    due = DueTimer(row.name, row.key, row.fire_at, dict(row.data), row.tenant_id)
                    handler = self.ctx.spec.timers.get(row.name)
                    savepoint = session.begin_nested()
                    this = (t.c.tenant_id == row.tenant_id, t.c.name == row.name, t.c.key == row.key)
                    session.execute(t.delete().where(*this))
                    if handler is None:
                        log.error("no handler for timer %s; dropping %s", row.name, row.key)
                        savepoint.commit()
                        continue
                    uow = UnitOfWork(
                        session,
                        service=self.ctx.name,
                        tables=self.ctx.spec.tables,
                        clock=self.ctx.clock,
                        ids=self.ctx.ids,
                        cause_key=f"timer:{row.tenant_id}:{row.name}:{row.key}:{row.fire_at.isoformat()}",
                        tenant=row.tenant_id,
                        extras=self.ctx.extras,
                    )
                    try:
                        handler(due, uow)
                        session.flush()
                        savepoint.commit()
                        fired += 1
                    except Exception:
                        savepoint.rollback()
                        EVENTS_FAILED.labels(self.ctx.name, f"timer:{row.name}").inc()
                        log.exception(
                            "timer %s/%s of %s failed; retrying in a minute", row.name, row.key, row.tenant_id
                        )
                        session.execute(t.update().where(*this).values(fire_at=now + RETRY_AFTER))
            self.ctx.notify_committed()
            if len(rows) < self.batch_size:
                return fired
