"""strategy's writers: the decision log keeps the order taken, and a batch does not rewrite rows it did not change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from services.strategy.adapters import decisions as log
from services.strategy.adapters import repository
from services.strategy.config import strategy_config
from services.strategy.domain.decisions import Decision

T0 = datetime(2026, 3, 2, 14, tzinfo=UTC)


def test_decisions_taken_at_one_instant_keep_their_order_and_causes(make_platform) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["strategy"]).context("strategy")
    items = [
        Decision(
            f"A{i % 7}",
            "COP",
            "planned",
            T0,
            contact_id=f"K{i:03d}",
            reason=f"step {i}",
            detail={"amount": Decimal("12.50"), "on": date(2026, 3, 2), "steps": ("a", "b"), "none": None},
        )
        for i in range(300)
    ]
    with ctx.sessions() as session:
        log.record(session, "t1", items, causes=[f"ev-{i // 3}" for i in range(300)])
        session.commit()
    with ctx.sessions() as session:
        rows = session.execute(
            text(
                "SELECT contact_id, cause_event_id, detail, at FROM strategy.decisions "
                "WHERE tenant_id = 't1' ORDER BY decision_id"
            )
        ).all()
    assert [r.contact_id for r in rows] == [f"K{i:03d}" for i in range(300)]
    assert [r.cause_event_id for r in rows] == [f"ev-{i // 3}" for i in range(300)]
    assert rows[5].detail == {"amount": "12.50", "on": "2026-03-02", "steps": ["a", "b"], "none": None}
    assert {r.at for r in rows} == {T0}


def test_an_account_a_batch_only_locked_is_not_written_again(make_platform) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["strategy"]).context("strategy")
    config = strategy_config({})
    scope = repository.Scope(["A1", "A2"], ["A1", "A2"], [], [], [], T0 - timedelta(days=3))
    ctid = text("SELECT account_id, ctid::text AS at FROM strategy.accounts WHERE tenant_id = 't1'")
    with ctx.sessions() as session:
        book = repository.load(session, "t1", scope, config, T0)
        book.touch("A1", segment="vip")
        book.touch("A2", segment="vip")
        repository.save(session, "t1", book)
        session.commit()
    with ctx.sessions() as session:
        book = repository.load(session, "t1", scope, config, T0)
        before = {row[0]: row[1] for row in session.execute(ctid)}
        book.touch("A1")  # read and locked, nothing changed
        book.touch("A2", segment="standard")
        repository.save(session, "t1", book)
        after = {row[0]: row[1] for row in session.execute(ctid)}
        session.commit()
    assert after["A1"] == before["A1"]  # no new row version
    assert after["A2"] != before["A2"]
    with ctx.sessions() as session:
        segments = {
            row[0]: row[1]
            for row in session.execute(
                text("SELECT account_id, segment FROM strategy.accounts WHERE tenant_id = 't1'")
            )
        }
    assert segments == {"A1": "vip", "A2": "standard"}


def test_locking_stored_accounts_and_replanning_a_contact_as_it_was_write_no_row_version(
    make_platform,
) -> None:  # type: ignore[no-untyped-def]
    ctx = make_platform(["strategy"]).context("strategy")
    config = strategy_config({})
    scope = repository.Scope(["A1"], ["A1"], [], [], [], T0 - timedelta(days=3))
    versions = text(
        "SELECT 'account', ctid::text FROM strategy.accounts WHERE tenant_id = 't1'"
        " UNION ALL SELECT contact_id, ctid::text FROM strategy.contacts WHERE tenant_id = 't1'"
    )
    with ctx.sessions() as session:
        book = repository.load(session, "t1", scope, config, T0)  # creates A1
        book.account_aged("A1", "COP", "dpd_1_30", "early", False, T0)
        repository.save(session, "t1", book)
        session.commit()
    with ctx.sessions() as session:
        before = dict(session.execute(versions).all())
        book = repository.load(session, "t1", scope, config, T0)
        planned = sorted(book.contacts)
        # the same bucket again at the same moment: every step cancelled, then planned again as it was
        book.account_aged("A1", "COP", "dpd_1_30", "early", False, T0)
        assert {book.contacts[c].status for c in planned} == {"planned"} and book.changed_contacts
        repository.save(session, "t1", book)
        after = dict(session.execute(versions).all())
        session.commit()
    assert len(before) > 1 and after == before
