"""``cobranza outbox parked`` / ``unpark``: the rows the relay parked are listed (the last error
redacted) and, once unparked, the relay publishes them on its next round, in order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import insert, select
from typer.testing import CliRunner

from libs.platform.cli import app as cli_app
from libs.runtime.relay import OutboxRelay
from libs.runtime.transport.base import OutgoingRecord
from libs.runtime.transport.memory import InMemoryPlatform
from tests.support.auth import database_url


class Recording:
    def __init__(self) -> None:
        self.sent: list[OutgoingRecord] = []

    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        self.sent.extend(records)
        return [None] * len(records)


class Refusing:
    """The broker refuses one event type (non-retriable), echoing a value as PostgreSQL would."""

    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        return [
            "Key (email)=(ana@example.com) already exists" if r.headers.get("t") == "bad" else None
            for r in records
        ]


def test_parked_rows_are_listed_redacted_and_unparked_back_to_the_relay(make_platform) -> None:  # type: ignore[no-untyped-def]
    platform: InMemoryPlatform = make_platform(["aging", "notifier"])
    ctx = platform.context("aging")
    outbox = ctx.spec.tables.outbox
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(outbox),
            [
                {
                    "tenant_id": "default",
                    "event_id": f"e{n}",
                    "event_type": "cobranza.account.aged",
                    "topic": "cobranza.accounts",
                    "key": "A1",
                    "value": b"{}",
                    "headers": {"t": kind},
                    "created_at": now,
                }
                for n, kind in enumerate(["good", "bad", "good"])
            ],
        )
    refusing = OutboxRelay(ctx, Refusing())
    for _ in range(ctx.settings.relay_max_attempts):
        refusing.relay_once()
    assert refusing.measure_parked() == 1  # the bad row is parked; the first good one went on

    runner = CliRunner()
    env = {"DATABASE_URL": database_url(ctx), "COBRANZA_STATE_DIR": "/nonexistent-cobranza-state"}
    listed = runner.invoke(cli_app, ["outbox", "parked"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows == [
        {
            "service": "aging",
            "id": rows[0]["id"],
            "type": "cobranza.account.aged",
            "topic": "cobranza.accounts",
            "attempts": ctx.settings.relay_max_attempts,
            "last_error": "Key (email)=(<redacted>) already exists",
        }
    ]
    assert "ana@example.com" not in listed.output
    assert runner.invoke(cli_app, ["outbox", "parked", "--service", "notifier"], env=env).stdout == ""

    assert runner.invoke(cli_app, ["outbox", "unpark"], env=env).exit_code == 2  # say which
    assert runner.invoke(cli_app, ["outbox", "unpark", "--id", "1"], env=env).exit_code == 2  # which outbox
    assert runner.invoke(cli_app, ["outbox", "parked", "--service", "nope"], env=env).exit_code == 2
    unparked = runner.invoke(
        cli_app, ["outbox", "unpark", "--service", "aging", "--id", str(rows[0]["id"])], env=env
    )
    assert unparked.exit_code == 0, unparked.output
    assert unparked.stdout.splitlines()[-1] == "unparked 1 outbox rows"
    assert refusing.measure_parked() == 0

    working = Recording()
    assert OutboxRelay(ctx, working).relay_once() == 2  # the unparked row, then the one behind it
    assert [r.headers["t"] for r in working.sent] == ["bad", "good"]
    with ctx.engine.connect() as conn:
        assert conn.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None))).all() == []
    again = runner.invoke(cli_app, ["outbox", "unpark", "--all"], env=env)
    assert again.exit_code == 0 and again.stdout.splitlines()[-1] == "unparked 0 outbox rows"
