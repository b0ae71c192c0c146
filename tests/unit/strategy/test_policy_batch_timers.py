"""The runtime's batch timers (``ServiceSpec.batch_timers``): claimed after the handler's locks,
a re-armed timer skipped, the ids a single timer would give, a failing batch fired one by one."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from libs.events.payloads.reference import ReferenceUpserted
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.service import ServiceSpec
from libs.runtime.timers import TimerRunner, claim, emit_for
from libs.runtime.uow import DueTimer, UnitOfWork

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def context(url: str, *, timers: dict[str, Any], batch_timers: dict[str, Any]) -> ServiceContext:
    spec = copy.copy(load_spec("strategy"))
    spec.timers, spec.batch_timers = timers, batch_timers
    return ServiceContext.create(spec, url, clock=SimulatedClock(NOW), pool_size=2)


def arm(ctx: ServiceContext, keys: Sequence[str], tenant: str = "default") -> None:
    with ctx.unit_of_work(tenant=tenant) as uow:
        uow.schedule_many("probe", [(k, NOW - timedelta(minutes=1)) for k in keys])


def left(ctx: ServiceContext) -> list[tuple[str, str, datetime]]:
    t = ctx.spec.tables.timers
    with ctx.sessions() as session:
        return [
            tuple(r) for r in session.execute(select(t.c.tenant_id, t.c.key, t.c.fire_at).order_by(t.c.key))
        ]  # type: ignore[misc]


def outbox_ids(ctx: ServiceContext) -> list[str]:
    t = ctx.spec.tables.outbox
    with ctx.sessions() as session:
        return sorted(session.execute(select(t.c.event_id)).scalars())


def agency(key: str) -> ReferenceUpserted:
    return ReferenceUpserted(entity_type="agency", entity_id=key, name=key)


def test_a_batch_timer_emits_the_ids_a_single_timer_would(
    service_database: Callable[[list[str]], str],
) -> None:
    def single(due: DueTimer, uow: UnitOfWork) -> None:
        uow.emit(agency(due.key))

    calls: list[list[str]] = []

    def batch(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
        mine = claim(uow, due)
        calls.append([d.key for d in mine])
        emit_for(uow, [(d, agency(d.key)) for d in mine])

    one = context(service_database(["strategy"]), timers={"probe": single}, batch_timers={})
    many = context(service_database(["strategy"]), timers={}, batch_timers={"probe": batch})
    try:
        for ctx in (one, many):
            arm(ctx, ["K1", "K2", "K3"])
            arm(ctx, ["K1"], tenant="acme")
            assert TimerRunner(ctx).run_due(NOW) == 4
            assert left(ctx) == []
        assert outbox_ids(one) == outbox_ids(many)
        assert sorted(calls) == [["K1"], ["K1", "K2", "K3"]]  # one call per tenant
    finally:
        one.dispose()
        many.dispose()


def test_a_timer_re_armed_before_the_claim_is_not_fired(service_database: Callable[[list[str]], str]) -> None:
    fired: list[str] = []

    def batch(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
        # a consumer (or another replica) re-armed K2 between the read and the claim
        uow.schedule("probe", "K2", NOW + timedelta(days=1))
        fired.extend(d.key for d in claim(uow, due))

    ctx = context(service_database(["strategy"]), timers={}, batch_timers={"probe": batch})
    try:
        arm(ctx, ["K1", "K2", "K3"])
        TimerRunner(ctx).run_due(NOW)
        assert fired == ["K1", "K3"]
        assert left(ctx) == [("default", "K2", NOW + timedelta(days=1))]
    finally:
        ctx.dispose()


def test_a_failing_batch_fires_timer_by_timer_and_retries_the_poison_later(
    service_database: Callable[[list[str]], str],
) -> None:
    fired: list[str] = []

    def batch(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
        mine = claim(uow, due)
        if any(d.key == "poison" for d in mine):
            raise ValueError("poison")
        fired.extend(d.key for d in mine)

    def lazy(due: Sequence[DueTimer], uow: UnitOfWork) -> None:
        """claims nothing: the runner claims what is left, so nothing is fired twice or looped on"""

    ctx = context(service_database(["strategy"]), timers={}, batch_timers={"probe": batch, "lazy": lazy})
    try:
        arm(ctx, ["K1", "poison", "K3"])
        with ctx.unit_of_work() as uow:
            uow.schedule("lazy", "L1", NOW - timedelta(minutes=5))
        TimerRunner(ctx, batch_size=2).run_due(NOW)
        assert sorted(fired) == ["K1", "K3"]
        assert left(ctx) == [("default", "poison", NOW + timedelta(minutes=1))]
    finally:
        ctx.dispose()


def test_a_timer_name_has_one_kind_of_handler() -> None:
    with pytest.raises(ValueError, match="both a handler and a batch handler"):
        ServiceSpec(
            name="probe",
            metadata=MetaData(schema="probe"),
            migrations_dir=Path("."),
            timers={"x": lambda due, uow: None},
            batch_timers={"x": lambda due, uow: None},
        )
