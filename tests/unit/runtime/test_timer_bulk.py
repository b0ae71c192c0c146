"""``schedule_many`` / ``cancel_many``: a batch's timers in one statement, with ``schedule``/``cancel``'s meaning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from libs.runtime.uow import UnitOfWork

AT = datetime(2026, 2, 1, tzinfo=UTC)


def _timers(ctx) -> list[tuple[str, str, str, datetime]]:  # type: ignore[no-untyped-def]
    t = ctx.spec.tables.timers
    with ctx.sessions() as session:
        rows = session.execute(
            select(t.c.tenant_id, t.c.name, t.c.key, t.c.fire_at).order_by(t.c.tenant_id, t.c.key)
        ).all()
    return [tuple(r) for r in rows]


def test_bulk_timers_keep_the_last_time_per_key_within_the_tenant(probe_platform) -> None:
    ctx = probe_platform().context("probe")
    with ctx.unit_of_work(tenant="acme") as uow:
        uow.schedule_many("wake", [("K1", AT + timedelta(hours=1))])
    with ctx.unit_of_work(tenant="default") as uow:
        uow.schedule("wake", "K1", AT)
        uow.schedule_many("wake", [(k, AT + timedelta(hours=1)) for k in ("K1", "K2", "K3")])
        uow.schedule_many("wake", [("K2", AT), ("K2", AT + timedelta(days=1))])  # the last one wins
    with ctx.unit_of_work(tenant="default") as uow:
        uow.cancel_many("wake", ["K1", "K3", "K3", "unknown"])
        uow.cancel_many("wake", [])
        uow.schedule_many("wake", [])
    assert _timers(ctx) == [
        ("acme", "wake", "K1", AT + timedelta(hours=1)),
        ("default", "wake", "K2", AT + timedelta(days=1)),
    ]


def test_bulk_timers_need_aware_times(probe_platform) -> None:
    ctx = probe_platform().context("probe")
    with pytest.raises(ValueError, match="timezone-aware"), ctx.unit_of_work() as uow:
        assert isinstance(uow, UnitOfWork)
        uow.schedule_many("wake", [("K1", datetime(2026, 2, 1))])
