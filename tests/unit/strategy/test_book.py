"""The in-memory book a batch is applied to (no I/O): events in order, every effect recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from services.strategy.config import load_config_file
from services.strategy.domain.book import CONTACT_TIMER, PROMISE_TIMER, Book, Payment, Promise

CONFIG = load_config_file(Path("services/strategy/config/playbooks.yaml").resolve())
NOW = datetime(2026, 1, 5, 15, tzinfo=UTC)


def test_cash_goes_to_the_promises_known_when_it_is_settled_not_to_the_oldest_id() -> None:
    book = Book(CONFIG, NOW)
    assert book.payment_applied("X1", "A1", "COP", Decimal("100"), date(2026, 1, 5), NOW) == []
    kept = book.promise_made("PZ", "A1", Decimal("60"), "COP", date(2026, 1, 15), NOW)
    book.promise_made("PA", "A1", Decimal("60"), "COP", date(2026, 1, 20), NOW)
    assert [(o.kind, o.promise_id, o.paid_amount) for o in kept] == [("kept", "PZ", Decimal("60.0000"))]
    assert (book.promises["PA"].status, book.promises["PA"].paid_amount) == ("open", Decimal("40.0000"))
    assert book.contributions == {("PZ", "X1"): Decimal("60.0000"), ("PA", "X1"): Decimal("40.0000")}
    assert book.timers[(PROMISE_TIMER, "PZ")] is None  # kept: its deadline timer is dropped
    assert book.timers[(PROMISE_TIMER, "PA")] == datetime(2026, 1, 21, 5, tzinfo=UTC)


def test_a_reversal_takes_back_stored_and_new_contributions_and_reopens_the_kept_promise() -> None:
    deadline = datetime(2026, 1, 16, 5, tzinfo=UTC)
    stored = Promise(
        "P1",
        "A1",
        Decimal("100.0000"),
        Decimal("70.0000"),
        "COP",
        date(2026, 1, 15),
        date(2026, 1, 2),
        deadline,
        "open",
    )
    cash = Payment("X2", "A1", "COP", Decimal("50.0000"), Decimal("50.0000"), date(2026, 1, 4), NOW)
    book = Book(
        CONFIG,
        NOW,
        promises={"P1": stored},
        payments={"X2": cash},
        stored_contributions={("P1", "X1"): Decimal("70.0000")},
    )
    assert [o.kind for o in book.payment_applied("X3", "A1", "COP", Decimal("1"), date(2026, 1, 5), NOW)] == [
        "kept"
    ]
    assert book.contributions == {("P1", "X2"): Decimal("30.0000")}
    assert book.payment_reversed("X1", "A1", "COP", date(2026, 1, 5), NOW) == []  # reopened, not broken
    promise = book.promises["P1"]
    # 100 - X1's 70 = 30, then the rest of X2 (20) and X3 (1) count at once: open with 51
    assert (promise.status, promise.paid_amount, promise.resolved_at) == ("open", Decimal("51.0000"), None)
    assert book.payments["X1"].reversed_at == NOW and book.payments["X1"].amount == 0  # a tombstone
    assert book.dropped_payments == {"X1"}
    assert book.timers[(PROMISE_TIMER, "P1")] == deadline
    assert book.contributions[("P1", "X2")] == Decimal("50.0000")
    assert book.contributions[("P1", "X3")] == Decimal("1.0000")


def test_a_cure_and_a_relapse_the_same_day_plan_the_same_contact_ids_again() -> None:
    book = Book(CONFIG, NOW)
    book.account_aged("A1", "COP", "dpd_1_30", "early", False, NOW)
    planned = {c.contact_id for c in book.contacts.values() if c.status == "planned"}
    book.account_aged("A1", "COP", "current", "current", True, NOW)
    assert {c.status for c in book.contacts.values()} == {"cancelled"}
    assert all(book.timers[(CONTACT_TIMER, c)] is None for c in planned)
    book.account_aged("A1", "COP", "dpd_1_30", "early", False, NOW)
    assert {c.contact_id for c in book.contacts.values() if c.status == "planned"} == planned
    assert all(book.timers[(CONTACT_TIMER, c)] is not None for c in planned)
    assert book.touched_accounts == {"A1"} and book.changed_buckets == {("A1", "COP")}
