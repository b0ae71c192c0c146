"""Versioned strategies under concurrency: two supervisors publishing at once get two versions, one active."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

from sqlalchemy import select
from support.auth import api_client

from services.strategy.adapters.orm import strategy_versions

STEPS = [{"name": "aviso", "day": 0, "channel": "email", "template": "aviso_mora"}]


def test_concurrent_versions_of_one_playbook_are_numbered_in_turn_and_one_stays_active(make_platform) -> None:
    platform = make_platform(["strategy"])
    platform.advance_to(datetime(2026, 1, 14, 15, tzinfo=UTC))
    ctx = platform.context("strategy")
    clients = [api_client(ctx), api_client(ctx)]
    start = Barrier(2)

    def publish(n: int) -> int:
        start.wait()
        answer = clients[n].post(
            "/v1/strategies", json={"name": "default", "steps": STEPS, "created_by": f"sup{n}"}
        )
        assert answer.status_code == 201, answer.text
        version: int = answer.json()["version"]
        return version

    with ThreadPoolExecutor(2) as pool:
        versions = sorted(pool.map(publish, range(2)))
    assert versions == [2, 3]
    with ctx.sessions() as session:
        rows = session.execute(
            select(strategy_versions.c.version, strategy_versions.c.active)
            .where(strategy_versions.c.tenant_id == "default", strategy_versions.c.name == "default")
            .order_by(strategy_versions.c.version)
        ).all()
    assert [tuple(r) for r in rows] == [(1, False), (2, False), (3, True)]
