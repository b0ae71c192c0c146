"""aging's ledger: the billed amount from the invoices topic, what is settled from the allocations topic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.aging.domain.ledger import Invoice, Ledger, Rejected, Settlement, open_amount

T0 = datetime(2026, 2, 1, 15, tzinfo=UTC)


def invoice(invoice_id: str = "I1", amount: str = "100") -> Invoice:
    return Invoice(
        invoice_id=invoice_id,
        account_id="A1",
        amount=Decimal(amount),
        settled=Decimal(0),
        settled_at=None,
        currency="COP",
        due_on=date(2026, 1, 20),
        timezone="America/Bogota",
        product_line="vida",
        policy_number=None,
        grace_days=None,
    )


def test_adjustment_keeps_what_was_settled() -> None:
    assert open_amount(Decimal("150"), Decimal("40")) == Decimal("110")
    assert open_amount(Decimal("30"), Decimal("40")) == Decimal("0")
    assert open_amount(Decimal("80"), Decimal("0")) == Decimal("80")


def _pay_30_then_adjust_to_80(order: str) -> Decimal:
    """Pay 30 on 100 (reconciliation: settled 30), then adjust to 80 (frees no cash: nothing allocated)."""
    ledger = Ledger.of([], [])
    ledger.issue(invoice())
    pay = [Settlement("I1", open_after=Decimal("70"), settled_after=Decimal("30"))]
    steps = {
        "adjust": lambda: ledger.adjust("I1", "COP", Decimal("80"), None),
        "pay": lambda: ledger.settle(pay, T0, "A1", "P1"),
    }
    for step in order.split(","):
        steps[step]()
    return ledger.invoices["I1"].open_amount


@pytest.mark.parametrize("order", ["pay,adjust", "adjust,pay"])
def test_open_amount_is_the_same_whichever_topic_arrives_first(order: str) -> None:
    assert _pay_30_then_adjust_to_80(order) == Decimal("50")


def test_an_allocation_without_settled_falls_back_to_its_open_amount() -> None:
    ledger = Ledger.of([invoice()], [])
    ledger.settle([Settlement("I1", Decimal("70"), None)], T0, "A1", "P1")
    assert ledger.invoices["I1"].open_amount == Decimal("70")
    ledger.adjust("I1", "COP", Decimal("80"), None)  # the first-wave rule: what was paid stays paid
    assert ledger.invoices["I1"].open_amount == Decimal("50")


def test_an_older_allocation_delivered_late_does_not_overwrite_a_newer_one() -> None:
    ledger = Ledger.of([invoice()], [])
    ledger.settle([Settlement("I1", Decimal("0"), Decimal("100"))], T0, "A1", "P2")
    ledger.settle([Settlement("I1", Decimal("70"), Decimal("30"))], T0 - timedelta(minutes=1), "A1", "P1")
    assert ledger.invoices["I1"].open_amount == Decimal("0")
    # the same time: the later delivery wins (one account's allocations arrive in order)
    ledger.settle([Settlement("I1", Decimal("40"), Decimal("60"))], T0, "A1", "R2")
    assert ledger.invoices["I1"].open_amount == Decimal("40")


def test_an_event_naming_an_invoice_twice_keeps_its_last_mention() -> None:
    ledger = Ledger.of([invoice()], [])
    ledger.settle(
        [Settlement("I1", Decimal("70"), Decimal("30")), Settlement("I1", Decimal("50"), Decimal("50"))],
        T0,
        "A1",
        "P1",
    )
    assert ledger.invoices["I1"].open_amount == Decimal("50")


def test_an_allocation_before_its_invoice_waits_and_the_invoice_takes_it() -> None:
    ledger = Ledger.of([], [])
    assert ledger.settle([Settlement("I1", Decimal("70"), Decimal("30"))], T0, "A1", "P1") == []
    assert [e.invoice_id for e in ledger.early_new()] == ["I1"]
    created = ledger.issue(invoice(amount="80"))  # issued already adjusted: 80 - 30
    assert created is not None and created.open_amount == Decimal("50")
    assert ledger.early_new() == []
    assert ledger.issue(invoice(amount="999")) is None  # a re-sent invoice changes nothing
    assert ledger.invoices["I1"].amount == Decimal("80")


def test_cancelled_invoices_owe_nothing_and_reject_adjustments() -> None:
    ledger = Ledger.of([invoice()], [])
    ledger.cancel("I1")
    ledger.settle([Settlement("I1", Decimal("70"), Decimal("30"))], T0, "A1", "P1")
    assert ledger.invoices["I1"].open_amount == Decimal("0")
    with pytest.raises(Rejected, match=r"data\.invoice_id: invoice I1 is cancelled"):
        ledger.adjust("I1", "COP", Decimal("50"), None)
    with pytest.raises(Rejected, match=r"data\.invoice_id: unknown invoice 'I9'"):
        ledger.cancel("I9")
    with pytest.raises(Rejected, match=r"data\.currency"):
        Ledger.of([invoice()], []).adjust("I1", "USD", Decimal("50"), None)
