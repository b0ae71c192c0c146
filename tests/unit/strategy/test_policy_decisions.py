"""The decision log: one multi-row INSERT per call, read back per account and tenant, filtered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert
from support.auth import api_client

from services.strategy.adapters import decisions as log
from services.strategy.adapters.orm import accounts
from services.strategy.domain.decisions import Decision

T0 = datetime(2026, 3, 2, 14, tzinfo=UTC)


def test_a_decision_kind_is_one_of_the_log_s_and_its_time_is_aware() -> None:
    with pytest.raises(ValueError, match="unknown decision kind"):
        Decision("A1", "COP", "dropped", T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        Decision("A1", "COP", "moved", T0.replace(tzinfo=None))


def test_decisions_are_recorded_in_one_statement_and_read_oldest_first(make_platform) -> None:  # type: ignore[no-untyped-def]
    platform = make_platform(["strategy"])
    ctx = platform.context("strategy")
    items = [
        Decision(
            "A1",
            "COP",
            "moved",
            T0 + timedelta(minutes=i),
            contact_id=f"K{i}",
            channel="sms",
            reason="Sunday",
            detail={"from": T0, "to": T0 + timedelta(days=1), "rule": "ley_2300.sunday"},
            strategy="default",
            strategy_version=3,
        )
        for i in range(5)
    ] + [Decision("A1", "COP", "suppressed", T0 + timedelta(hours=1), channel="voice", reason="no consent")]
    statements: list[str] = []
    with ctx.sessions() as session:
        session.execute(
            insert(accounts).values(
                [
                    {"tenant_id": "t1", "account_id": "A1", "updated_at": T0},
                    {"tenant_id": "t2", "account_id": "A1", "updated_at": T0},
                ]
            )
        )
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", lambda *a: statements.append(a[2]))
        log.record(session, "t1", items, cause="ev-1")
        log.record(session, "t1", [])
        session.commit()
    assert len([s for s in statements if "INSERT INTO strategy.decisions" in s]) == 1

    client = api_client(ctx, tenant="t1")
    got = client.get("/v1/accounts/A1/decisions").json()
    assert [d["contact_id"] for d in got] == ["K0", "K1", "K2", "K3", "K4", None]
    assert got[0]["detail"] == {
        "from": T0.isoformat(),
        "to": (T0 + timedelta(days=1)).isoformat(),
        "rule": "ley_2300.sunday",
    }
    assert (got[0]["strategy"], got[0]["strategy_version"], got[0]["cause_event_id"]) == (
        "default",
        3,
        "ev-1",
    )
    only = client.get("/v1/accounts/A1/decisions", params={"kind": "suppressed"}).json()
    assert [(d["kind"], d["reason"]) for d in only] == [("suppressed", "no consent")]
    newest = client.get("/v1/accounts/A1/decisions", params={"limit": 2}).json()
    assert [d["contact_id"] for d in newest] == ["K4", None]
    window = client.get(
        "/v1/accounts/A1/decisions",
        params={
            "since": (T0 + timedelta(minutes=1)).isoformat(),
            "until": (T0 + timedelta(minutes=3)).isoformat(),
        },
    ).json()
    assert [d["contact_id"] for d in window] == ["K1", "K2"]
    # another tenant's account with the same id knows nothing of these; an unknown account is 404
    assert api_client(ctx, tenant="t2").get("/v1/accounts/A1/decisions").json() == []
    assert client.get("/v1/accounts/NOPE/decisions").status_code == 404
    bad = client.get("/v1/accounts/A1/decisions", params={"limit": 5001, "kind": "dropped"})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("query", "limit"), ("query", "kind", 0)}
    naive = client.get("/v1/accounts/A1/decisions", params={"since": "2026-03-02T10:00:00"})
    assert naive.status_code == 422
    backwards = client.get(
        "/v1/accounts/A1/decisions",
        params={"since": T0.isoformat(), "until": (T0 - timedelta(days=1)).isoformat()},
    )
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["loc"] == ["query", "until"]
