from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.strategy.domain.cure import is_cured
from services.strategy.domain.promises import (
    AvailableCash,
    OpenPromise,
    is_kept,
    promise_deadline,
    settle,
    status_after_reversal,
)

D = Decimal
DEADLINE = datetime(2026, 1, 20, 5, tzinfo=UTC)
BEFORE = datetime(2026, 1, 10, tzinfo=UTC)


def test_deadline_is_end_of_due_date_in_debtor_zone_plus_grace() -> None:
    assert promise_deadline(date(2026, 2, 10), "America/Bogota") == datetime(
        2026, 2, 11, tzinfo=ZoneInfo("America/Bogota")
    )
    assert promise_deadline(date(2026, 2, 10), "America/Bogota", 2) == datetime(
        2026, 2, 13, tzinfo=ZoneInfo("America/Bogota")
    )
    with pytest.raises(ValueError):
        promise_deadline(date(2026, 2, 10), "America/Bogota", -1)


def test_cash_fills_oldest_promise_first_and_ignores_promises_made_after_it() -> None:
    older = OpenPromise("P1", D("100"), D("0"), date(2026, 1, 5), DEADLINE)
    newer = OpenPromise("P2", D("50"), D("0"), date(2026, 1, 8), DEADLINE)
    result = settle([newer, older], [AvailableCash("X1", D("120"), date(2026, 1, 9), BEFORE)])
    assert result.paid == {"P1": D("100"), "P2": D("20")}
    assert result.contributions == {("P1", "X1"): D("100"), ("P2", "X1"): D("20")}
    assert result.left == {"X1": D("0")}

    early = settle([newer, older], [AvailableCash("X1", D("120"), date(2026, 1, 6), BEFORE)])
    assert early.paid == {"P1": D("100")}
    assert early.left == {"X1": D("20")}
    assert settle([newer], [AvailableCash("X1", D("10"), date(2026, 1, 6), BEFORE)]).contributions == {}


def test_cash_that_arrives_after_the_deadline_does_not_count() -> None:
    promise = OpenPromise("P1", D("100"), D("0"), date(2026, 1, 5), DEADLINE)
    late = AvailableCash("X1", D("100"), date(2026, 1, 9), DEADLINE)
    assert settle([promise], [late]).contributions == {}


def test_partial_payments_accumulate_and_oldest_cash_is_used_first() -> None:
    promise = OpenPromise("P1", D("100"), D("30"), date(2026, 1, 5), DEADLINE)
    cash = [
        AvailableCash("X2", D("80"), date(2026, 1, 8), BEFORE),
        AvailableCash("X1", D("50"), date(2026, 1, 7), BEFORE),
    ]
    result = settle([promise], cash)
    assert result.paid == {"P1": D("100")}
    assert result.contributions == {("P1", "X1"): D("50"), ("P1", "X2"): D("20")}
    assert result.left == {"X1": D("0"), "X2": D("60")}


def test_kept_when_paid_reaches_amount() -> None:
    assert is_kept(D("100"), D("100.00"))
    assert not is_kept(D("100"), D("99.99"))


@pytest.mark.parametrize(
    ("status", "paid", "now", "after"),
    [
        ("kept", D("40"), BEFORE, "open"),  # short again before the deadline: open again
        ("kept", D("40"), DEADLINE, "broken"),  # short after the deadline: broken
        ("kept", D("100"), DEADLINE, "kept"),  # still covered by other cash
        ("open", D("0"), BEFORE, "open"),
        ("broken", D("0"), DEADLINE, "broken"),
    ],
)
def test_status_after_a_reversal(status: str, paid: Decimal, now: datetime, after: str) -> None:
    assert status_after_reversal(status, D("100"), paid, DEADLINE, now) == after  # type: ignore[arg-type]


def test_cure_is_the_current_stage_whatever_the_bucket_is_called() -> None:
    scheme = {"al_dia": "current", "mora_temprana": "early"}
    assert is_cured("current", "al_dia", 0, {})
    assert not is_cured("early", "current", 3, {})  # the stage wins over a misleading name
    assert is_cured(None, "al_dia", 0, scheme)
    assert not is_cured(None, "mora_temprana", 5, scheme)
    assert not is_cured(None, "current", 0, {"current": "early", "al_dia": "current"})
    assert is_cured(None, "unknown_bucket", 0, scheme)  # a name the scheme does not know: days past due
    assert not is_cured(None, "unknown_bucket", 4, scheme)
