"""A running service's dependencies, wired once (bootstrap) and passed to handlers and routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from libs.runtime.clock import Clock, SystemClock
from libs.runtime.db import make_engine, session_factory
from libs.runtime.ids import IdFactory
from libs.runtime.service import ServiceSpec
from libs.runtime.settings import PlatformSettings
from libs.runtime.uow import UnitOfWork


@dataclass
class ServiceContext:
    spec: ServiceSpec
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)
    ids: IdFactory = field(default_factory=IdFactory)
    settings: PlatformSettings = field(default_factory=PlatformSettings)
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    broker_ready: Callable[[], bool] = lambda: True
    extras: dict[str, Any] = field(default_factory=dict)
    not_live: str | None = None
    """Why the service cannot work any more (a loop that gave up); ``/healthz`` answers 503 with it."""

    @classmethod
    def create(
        cls,
        spec: ServiceSpec,
        database_url: str,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        settings: PlatformSettings | None = None,
        pool_size: int = 5,
        pre_ping: bool = True,
    ) -> ServiceContext:
        engine = make_engine(database_url, service=spec.name, pool_size=pool_size, pre_ping=pre_ping)
        return cls(
            spec=spec,
            engine=engine,
            sessions=session_factory(engine),
            clock=clock or SystemClock(),
            ids=ids or IdFactory(),
            settings=settings or PlatformSettings(),
        )

    @property
    def name(self) -> str:
        return self.spec.name

    @contextmanager
    def unit_of_work(
        self, *, correlation_id: str | None = None, tenant: str | None = None
    ) -> Iterator[UnitOfWork]:
        """One transaction for an API command: effects and emitted events commit together."""
        with self.sessions() as session, session.begin():
            uow = UnitOfWork(
                session,
                service=self.name,
                tables=self.spec.tables,
                clock=self.clock,
                ids=self.ids,
                tenant=tenant or self.settings.tenant,
                correlation_id=correlation_id,
                extras=self.extras,
            )
            yield uow
        self.notify_committed()

    def notify_committed(self) -> None:
        for callback in self.on_commit:
            callback()

    def outbox_backlog(self) -> int:
        outbox = self.spec.tables.outbox
        with self.sessions() as session:
            return int(
                session.execute(
                    select(func.count()).where(
                        outbox.c.published_at.is_(None),
                        outbox.c.attempts < self.settings.relay_max_attempts,  # parked: their own gauge
                    )
                ).scalar_one()
            )

    def dispose(self) -> None:
        self.engine.dispose()
