"""The audit log: a row per person's mutating request (who, when, route, object ids, before/after,
status), readable by auditors through GET /v1/audit, and append-only in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from libs.auth.audit import erase_personal_data
from libs.runtime.db import make_engine
from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import api_client


@pytest.fixture
def platform(make_platform) -> InMemoryPlatform:  # type: ignore[no-untyped-def]
    built: InMemoryPlatform = make_platform(["reconciliation", "segmentation"])
    return built


def test_mutating_requests_of_people_are_audited_and_readable_by_auditors(platform: InMemoryPlatform) -> None:
    recon = platform.context("reconciliation")
    supervisor = api_client(recon, role="supervisor", tenant="acme")
    applied = supervisor.post(
        "/v1/suspense/P9/apply", json={"account_id": "A1", "reason": "manual", "user": "ops"}
    )
    assert applied.status_code == 404  # no such suspense payment: still an action, still audited
    denied = api_client(recon, role="bi", tenant="acme").post(
        "/v1/suspense/P9/apply", json={"account_id": "A1", "reason": "x", "user": "y"}
    )
    assert denied.status_code == 403
    assert supervisor.get("/v1/suspense").status_code == 200  # reads are not audited

    auditor = api_client(platform.context("segmentation"), role="auditor", tenant="acme")
    rows = auditor.get("/v1/audit", params={"route": "/v1/suspense/{payment_id}/apply"}).json()
    assert [(r["role"], r["status"], r["method"], r["service"]) for r in rows] == [
        ("bi", 403, "POST", "reconciliation"),
        ("supervisor", 404, "POST", "reconciliation"),
    ]
    assert rows[1]["object_ids"] == {"payment_id": "P9", "account_id": "A1"}
    assert rows[1]["actor"].startswith("key:")
    assert auditor.get("/v1/audit", params={"actor": rows[0]["actor"]}).json()[0]["role"] == "bi"
    assert auditor.get("/v1/audit", params={"since": "2999-01-01T00:00:00Z"}).json() == []
    assert auditor.get("/v1/audit", params={"limit": 1}).json() == rows[:1]
    # another tenant's auditor sees none of it; a supervisor may not read it at all
    assert (
        api_client(platform.context("segmentation"), role="auditor", tenant="initech").get("/v1/audit").json()
        == []
    )
    assert (
        api_client(platform.context("segmentation"), role="supervisor", tenant="acme")
        .get("/v1/audit")
        .status_code
        == 403
    )


def test_the_audit_log_refuses_update_delete_and_truncate(platform: InMemoryPlatform) -> None:
    ctx = platform.context("segmentation")
    api_client(ctx, role="supervisor", tenant="acme").post("/v1/segments/preview", json={})
    for statement in (
        "UPDATE auth.audit_log SET status = 200",
        "DELETE FROM auth.audit_log",
        "TRUNCATE auth.audit_log",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"), ctx.engine.begin() as conn:
            conn.execute(text(statement))
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.audit_log")).scalar() == 1


def test_erasing_a_customer_scrubs_its_audit_rows_and_nothing_else_may_change_them(make_platform) -> None:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(["ingest", "strategy"])
    ingest = platform.context("ingest")
    admin = api_client(ingest, role="admin", tenant="acme")
    body = {"name": "Ana Pérez", "email": "ana@example.com", "phone": "+573001234567", "country": "CO"}
    put = admin.put("/v1/customers/C7", json={**body, "account_ids": ["A7"]})
    assert put.status_code == 200, put.text
    canonical = put.json()["customer_id"]
    agent = api_client(platform.context("strategy"), role="agent", tenant="acme")
    assert (
        agent.post(
            "/v1/accounts/A7/pauses", json={"reason": "dispute", "note": "Ana Pérez llamó"}
        ).status_code
        == 202
    )
    other = api_client(platform.context("strategy"), role="agent", tenant="initech")
    assert (
        other.post("/v1/accounts/A7/pauses", json={"reason": "dispute", "note": "Ana Pérez"}).status_code
        == 202
    )

    def dump(tenant: str) -> str:
        with ingest.engine.connect() as conn:
            return str(
                conn.execute(
                    text("SELECT json_agg(a ORDER BY id)::text FROM auth.audit_log a WHERE tenant_id = :t"),
                    {"t": tenant},
                ).scalar()
            )

    assert "ana@example.com" in dump("acme") and "Ana Pérez" in dump("acme")
    owner = make_engine(ingest.engine.url.render_as_string(hide_password=False), service="auth", pool_size=1)
    try:
        with owner.begin() as conn:
            assert erase_personal_data(conn, "acme", [canonical], ["A7"]) == 2
        with owner.begin() as conn:
            assert erase_personal_data(conn, "acme", [canonical], ["A7"]) == 0  # already erased
        # outside the erasure, the owner may not change a row either
        with pytest.raises(DBAPIError, match="append-only"), owner.begin() as conn:
            conn.execute(text("UPDATE auth.audit_log SET before = '{}'::jsonb"))
        with pytest.raises(DBAPIError, match="append-only"), owner.begin() as conn:
            conn.execute(text("SELECT set_config('cobranza.audit_erasure', 'on', true)"))
            conn.execute(text("UPDATE auth.audit_log SET status = 200"))
    finally:
        owner.dispose()
    erased = dump("acme")
    assert "ana@example.com" not in erased and "Ana Pérez" not in erased and "+573001234567" not in erased
    rows = api_client(platform.context("strategy"), role="auditor", tenant="acme").get("/v1/audit").json()
    by_route = {r["route"]: r for r in rows}
    customer_row = by_route["/v1/customers/{customer_id}"]
    assert customer_row["before"] is None and customer_row["after"] == {"erased": "habeas_data"}
    assert customer_row["object_ids"]["customer_id"] == canonical and customer_row["status"] == 200
    pause_row = by_route["/v1/accounts/{account_id}/pauses"]
    assert (
        "note" not in pause_row["after"]["published"]
        and pause_row["after"]["published"]["reason"] == "dispute"
    )
    assert "Ana Pérez" in dump("initech")  # another tenant's rows are its own
