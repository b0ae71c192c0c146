"""The audit log: a row per person's mutating request (who, when, route, object ids, before/after,
status), readable by auditors through GET /v1/audit, and append-only in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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
