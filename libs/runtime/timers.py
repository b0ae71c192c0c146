"""Fires the durable timers handlers asked for.

Timers are keyed by (tenant, name, key): two tenants' timers for the same account never
overwrite each other.

* **Single timers** (``ServiceSpec.timers``): due rows are taken with ``FOR UPDATE SKIP LOCKED``
  and each is deleted and its handler called in one savepoint, so a timer fires once even with
  several replicas; a handler that wants to be woken again simply schedules itself anew.
* **Batch timers** (``ServiceSpec.batch_timers``): due rows are read *without a lock* and handed,
  one tenant and name per call, to a handler taking the list. The handler locks its business
  rows first, in the order the service's consumers lock them (strategy: accounts by id), and
  only then **claims** the timers with ``claim`` (``DELETE … RETURNING`` of the rows still due
  at the time read): a timer re-armed or fired meanwhile by a consumer or another replica is
  not returned and not fired. Business rows before timer rows, as the consumers take them, so a
  consumer batch and the timer runner, or two replicas, never wait on each other in a cycle
  (the deadlock of taking 200 timer rows first and the contacts they name after). After the
  handler the runner claims whatever it left (a handler with nothing to do), so every due
  timer is fired once or skipped, never looped on. A failing batch is retried timer by timer;
  a timer that fails alone is retried a minute later.

Emitting from a batch timer: ``emit_for(uow, [(due, payload), …])`` gives each event the id
a single timer handler would have given it (derived from the timer), in one outbox insert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby

from opentelemetry import propagate
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from libs.events.envelope import Envelope
from libs.events.payloads.base import EventPayload
from libs.runtime.context import ServiceContext
from libs.runtime.observability import EVENTS_FAILED
from libs.runtime.uow import DueTimer, UnitOfWork

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(minutes=1)


def timer_cause_key(due: DueTimer) -> str:
    """What ids derived from a fired timer name: the timer and the time it was due."""
    return f"timer:{due.tenant}:{due.name}:{due.key}:{due.fire_at.isoformat()}"


def _timer_view(uow: UnitOfWork, due: DueTimer) -> UnitOfWork:
    """The batch's transaction seen from one timer: its cause key (ids), its tenant."""
    return UnitOfWork(
        uow.session,
        service=uow.service,
        tables=uow._tables,
        clock=uow.clock,
        ids=uow._ids,
        cause_key=timer_cause_key(due),
        tenant=due.tenant,
        extras=uow.extras,
        _emissions=uow._shared,
    )


def emit_for(uow: UnitOfWork, items: Sequence[tuple[DueTimer, EventPayload]]) -> list[Envelope]:
    """Emit each payload as its timer's, in order, with one multi-row outbox insert."""
    views: dict[str, UnitOfWork] = {}
    built: list[tuple[Envelope, str]] = []
    current: dict[str, str] = {}
    propagate.inject(current)  # one span for the whole call
    for due, payload in items:
        key = timer_cause_key(due)
        view = views.get(key)
        if view is None:
            view = views[key] = _timer_view(uow, due)
        built.append((view._envelope(payload, None, None, current), payload.topic))
    uow.forward_many(built)
    return [envelope for envelope, _ in built]


def claim(uow: UnitOfWork, timers: Sequence[DueTimer]) -> list[DueTimer]:
    """Delete ``timers`` that are still as they were read (same fire time) and return those.

    Call it after locking the business rows the timers lead to; the returned ones are this
    transaction's to fire, the others were re-armed or fired meanwhile.
    """
    if not timers:
        return []
    return _claim(uow.session, uow._tables.timers.fullname, timers)


def _claim(session: Session, table: str, timers: Sequence[DueTimer]) -> list[DueTimer]:
    tenant, name = timers[0].tenant, timers[0].name
    if any(t.tenant != tenant or t.name != name for t in timers):
        raise ValueError("claim takes the timers of one tenant and name")
    read = sorted({t.key: t.fire_at for t in timers}.items())
    rows = session.execute(
        text(
            f"DELETE FROM {table} AS t USING unnest(CAST(:keys AS text[]), CAST(:fire_at AS timestamptz[])) "
            "AS v(key, fire_at) WHERE t.tenant_id = :tenant AND t.name = :name AND t.key = v.key "
            "AND t.fire_at = v.fire_at RETURNING t.key, t.fire_at, t.data"
        ),
        {"tenant": tenant, "name": name, "keys": [k for k, _ in read], "fire_at": [at for _, at in read]},
    ).all()
    return sorted(
        (DueTimer(name, r.key, r.fire_at, dict(r.data or {}), tenant) for r in rows),
        key=lambda d: (d.fire_at, d.key),
    )


class TimerRunner:
    def __init__(self, ctx: ServiceContext, batch_size: int = 200) -> None:
        self.ctx = ctx
        self.timers = ctx.spec.tables.timers
        self.batch_size = batch_size

    def _any(self) -> bool:
        return bool(self.ctx.spec.timers or self.ctx.spec.batch_timers)

    def next_fire_at(self) -> datetime | None:
        if not self._any():
            return None
        with self.ctx.sessions() as session:
            value: datetime | None = session.execute(select(func.min(self.timers.c.fire_at))).scalar()
            return value

    def run_due(self, now: datetime | None = None) -> int:
        """Fire every timer due at or before ``now``; returns how many fired."""
        if not self._any():
            return 0
        now = now or self.ctx.clock.now()
        fired = self._run_batches(now) if self.ctx.spec.batch_timers else 0
        return fired + self._run_singles(now)

    # --- batch timers ---------------------------------------------------------------------

    def _uow(self, session: Session, tenant: str, *, batch: bool, cause_key: str | None = None) -> UnitOfWork:
        return UnitOfWork(
            session,
            service=self.ctx.name,
            tables=self.ctx.spec.tables,
            clock=self.ctx.clock,
            ids=self.ctx.ids,
            cause_key=cause_key,
            tenant=tenant,
            extras=self.ctx.extras,
            batch=batch,
        )

    def _run_batches(self, now: datetime) -> int:
        t = self.timers
        names = sorted(self.ctx.spec.batch_timers)
        fired = 0
        while True:
            with self.ctx.sessions() as session:
                rows = session.execute(
                    select(t.c.tenant_id, t.c.name, t.c.key, t.c.fire_at, t.c.data)
                    .where(t.c.name.in_(names), t.c.fire_at <= now)
                    .order_by(t.c.fire_at, t.c.tenant_id, t.c.name, t.c.key)
                    .limit(self.batch_size)
                ).all()
            if not rows:
                return fired
            dues = [DueTimer(r.name, r.key, r.fire_at, dict(r.data or {}), r.tenant_id) for r in rows]
            dues.sort(key=lambda d: (d.tenant, d.name, d.fire_at, d.key))
            for (_, _), group in groupby(dues, key=lambda d: (d.tenant, d.name)):
                fired += self._fire_batch(list(group), now)
            self.ctx.notify_committed()
            if len(rows) < self.batch_size:
                return fired

    def _fire_batch(self, group: list[DueTimer], now: datetime) -> int:
        handler = self.ctx.spec.batch_timers[group[0].name]
        try:
            with self.ctx.sessions() as session, session.begin():
                handler(group, self._uow(session, group[0].tenant, batch=True))
                session.flush()
                _claim(session, self.timers.fullname, group)  # whatever the handler left
            return len(group)
        except Exception:
            if len(group) == 1:
                self._retry_later(group[0], now)
                return 0
            log.warning("batch of %d %s timers failed; firing them one by one", len(group), group[0].name)
            return sum(self._fire_batch([due], now) for due in group)

    def _retry_later(self, due: DueTimer, now: datetime) -> None:
        EVENTS_FAILED.labels(self.ctx.name, f"timer:{due.name}").inc()
        log.exception("timer %s/%s of %s failed; retrying in a minute", due.name, due.key, due.tenant)
        t = self.timers
        with self.ctx.sessions() as session, session.begin():
            session.execute(
                t.update()
                .where(
                    t.c.tenant_id == due.tenant,
                    t.c.name == due.name,
                    t.c.key == due.key,
                    t.c.fire_at == due.fire_at,
                )
                .values(fire_at=now + RETRY_AFTER)
            )

    # --- single timers --------------------------------------------------------------------

    def _run_singles(self, now: datetime) -> int:
        fired = 0
        t = self.timers
        batched = sorted(self.ctx.spec.batch_timers)
        while True:
            with self.ctx.sessions() as session, session.begin():
                query = select(t).where(t.c.fire_at <= now)
                if batched:
                    query = query.where(t.c.name.not_in(batched))
                rows = session.execute(
                    query.order_by(t.c.fire_at, t.c.tenant_id, t.c.name, t.c.key)
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
                    uow = self._uow(session, row.tenant_id, batch=False, cause_key=timer_cause_key(due))
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
