from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.strategy.domain.promises import OpenPromise, apply_payment, is_kept, promise_deadline


def test_deadline_is_end_of_due_date_in_debtor_zone_plus_grace() -> None:
    assert promise_deadline(date(2026, 2, 10), "America/Bogota") == datetime(
        2026, 2, 11, tzinfo=ZoneInfo("America/Bogota")
    )
    assert promise_deadline(date(2026, 2, 10), "America/Bogota", 2) == datetime(
        2026, 2, 13, tzinfo=ZoneInfo("America/Bogota")
    )
    with pytest.raises(ValueError):
        promise_deadline(date(2026, 2, 10), "America/Bogota", -1)


def test_payment_fills_oldest_promise_first_and_ignores_promises_made_later() -> None:
    older = OpenPromise("P1", Decimal("100"), Decimal("0"), date(2026, 1, 5))
    newer = OpenPromise("P2", Decimal("50"), Decimal("0"), date(2026, 1, 8))
    assert apply_payment([newer, older], Decimal("120"), date(2026, 1, 9)) == (
        {"P1": Decimal("100"), "P2": Decimal("20")},
        Decimal("0"),
    )
    assert apply_payment([newer, older], Decimal("120"), date(2026, 1, 6)) == (
        {"P1": Decimal("100")},
        Decimal("20"),
    )
    assert apply_payment([newer], Decimal("10"), date(2026, 1, 6)) == ({}, Decimal("10"))


def test_kept_when_paid_reaches_amount() -> None:
    assert is_kept(Decimal("100"), Decimal("100.00"))
    assert not is_kept(Decimal("100"), Decimal("99.99"))
