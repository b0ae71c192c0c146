"""``Profiles``: the per-event profile rules applied to a batch's accounts in memory (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.segmentation.domain.profiles import Invoice, Profiles, UnknownInvoice, money

NOW = datetime(2026, 1, 20, 15, tzinfo=UTC)


def profiles(
    stored_early: dict[str, Decimal] | None = None, invoices: list[Invoice] | None = None
) -> Profiles:
    return Profiles(
        NOW,
        accounts=[],
        invoices=invoices or [],
        payments=[],
        aging=[],
        promises=[],
        early_open_amounts=stored_early or {},
    )


def invoice(invoice_id: str, account_id: str, amount: str = "100.00", currency: str = "COP") -> Invoice:
    return Invoice(invoice_id, account_id, money(amount), None, currency, date(2026, 1, 1), date(2026, 1, 15))


def test_an_allocation_before_its_invoice_waits_and_becomes_its_open_amount() -> None:
    p = profiles(stored_early={"I0": money("5")})
    p.ensure_account("A1", "COP")
    assert p.set_open_amounts([("I1", Decimal("40")), ("I1", Decimal("30"))]) == set()  # the latest wins
    p.issue_invoice(invoice("I1", "A1"))
    p.issue_invoice(invoice("I0", "A1"))
    p.after("cause", "A1")
    assert p.invoices["I1"].open_amount == money("30")
    assert p.invoices["I0"].open_amount == money("5")
    assert p.early_taken == ["I0"] and p.changed_early == set()
    assert p.accounts["A1"]["total_balance"] == money("35")
    assert [s.account_id for s in p.steps] == ["A1"]


def test_an_account_without_an_invoice_is_kept_but_never_segmented() -> None:
    p = profiles()
    p.ensure_account("A1", "COP")
    p.after("cause", "A1")
    assert p.steps == [] and "A1" in p.changed_accounts


def test_balances_and_credit_are_those_of_the_deciding_currency_and_credit_is_not_floored() -> None:
    p = profiles()
    p.ensure_account("A1", "COP")
    p.issue_invoice(invoice("I1", "A1", "100"))
    p.issue_invoice(invoice("I2", "A1", "999", currency="USD"))
    p.set_credit("A1", "COP", Decimal("150"))
    p.set_credit("A1", "USD", Decimal("7"))  # kept with the USD state
    p.refresh("A1")
    row = p.accounts["A1"]
    # both current with one open invoice each: the currency code decides (COP before USD)
    assert row["currency"] == "COP"
    assert (row["total_balance"], row["credit_balance"]) == (money("-50"), money("150"))
    assert row["currencies"]["USD"]["credit_balance"] == money("7")
    assert row["first_issued_on"] == date(2026, 1, 1)


def test_an_adjustment_moves_the_open_amount_by_the_billed_difference_never_below_zero() -> None:
    p = profiles(invoices=[invoice("I1", "A1", "100")])
    p.set_open_amounts([("I1", Decimal("30"))])  # 70 paid
    p.adjust_invoice(p.known_invoice("I1", "A1"), Decimal("50"), None)
    assert p.invoices["I1"].open_amount == money("0")
    with pytest.raises(UnknownInvoice, match="invoice_id: invoice I1 of account B2 was never issued"):
        p.known_invoice("I1", "B2")
