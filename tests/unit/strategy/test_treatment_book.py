"""Treatment in the in-memory book (no I/O): holds recorded as reasons, their end plans again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from services.strategy.config import load_config_file
from services.strategy.domain.book import CONTACT_TIMER, PAUSE_TIMER, Book

CONFIG = load_config_file(Path("services/strategy/config/playbooks.yaml").resolve())
NOW = datetime(2026, 1, 14, 15, tzinfo=UTC)


def live(book: Book) -> set[str]:
    return {c.step for c in book.contacts.values() if c.status == "planned"}


def test_a_plan_holds_only_its_currencys_dunning_and_its_completion_lets_aging_plan_again() -> None:
    book = Book(CONFIG, NOW)
    book.account_aged("A1", "COP", "dpd_1_30", "early", False, NOW)
    book.account_aged("A1", "USD", "dpd_1_30", "early", False, NOW)
    book.plan_agreed("PL1", "A1", "COP", NOW)
    by_currency = {(c.currency, c.status, c.reason) for c in book.contacts.values()}
    assert ("COP", "cancelled", "on payment plan PL1") in by_currency
    assert {c.status for c in book.contacts.values() if c.currency == "USD"} == {"planned"}
    book.account_aged("A1", "COP", "dpd_31_60", "late", False, NOW)  # aging goes on: still held
    assert {c.status for c in book.contacts.values() if c.currency == "COP"} == {"cancelled"}
    book.plan_completed("PL1", "A1", "COP", NOW)
    book.account_aged("A1", "COP", "dpd_31_60", "late", False, NOW)
    assert "planned" in {c.status for c in book.contacts.values() if c.currency == "COP"}
    assert [d.kind for d in book.decisions if d.kind == "plan"] == ["plan", "plan"]


def test_a_pause_holds_every_kind_and_a_resume_plans_what_is_still_ahead() -> None:
    book = Book(CONFIG, NOW)
    book.invoice_issued(
        "I1", "A1", "COP", date(2026, 2, 20), customer_id="C1", timezone="America/Bogota", country="CO"
    )
    book.account_aged("A1", "COP", "dpd_1_30", "early", False, NOW)
    assert "recordatorio_previo" in live(book)
    book.collection_paused("PZ1", "A1", "legal_hold", None, "juzgado 3", "ag1", NOW)
    assert live(book) == set()
    assert all(book.timers[(CONTACT_TIMER, c)] is None for c in book.contacts)
    assert (PAUSE_TIMER, "PZ1") not in book.timers  # no until: only a resume ends it
    assert book.is_paused("A1")
    book.collection_resumed("A1", "ag2")
    assert not book.is_paused("A1")
    assert {"recordatorio_previo", "aviso_mora", "sms_mora", "llamada", "carta_cobro"} <= live(book)
    kinds = [d.kind for d in book.decisions]
    assert kinds.index("paused") < kinds.index("resumed")
    assert book.pauses["PZ1"].resumed_by == "ag2"


def test_a_broken_promise_while_paused_does_not_escalate() -> None:
    book = Book(CONFIG, NOW)
    book.account_aged("A1", "COP", "dpd_1_30", "early", False, NOW)
    book.collection_paused("PZ1", "A1", "dispute", date(2026, 1, 31), None, None, NOW)
    assert book.promise_broken("P1", "A1", "COP") is False
    assert "escalated" not in [d.kind for d in book.decisions]
    assert book.timers[(PAUSE_TIMER, "PZ1")] == datetime(2026, 2, 1, 5, tzinfo=UTC)
