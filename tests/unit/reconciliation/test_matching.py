"""Matching rules, in order, on pure dataclasses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from services.reconciliation.domain.ledger import apply_credit, reverse, shrink
from services.reconciliation.domain.matching import (
    apply_manually,
    match_payment,
    normalize_reference,
    resolve_account,
)
from services.reconciliation.domain.model import (
    Allocation,
    CreditLot,
    IncomingPayment,
    InvoiceState,
    Tolerance,
)
from services.reconciliation.domain.tolerances import ToleranceConfigError, parse_tolerances


def inv(
    invoice_id: str,
    open_amount: str,
    due: int,
    *,
    amount: str | None = None,
    account: str = "A1",
    currency: str = "COP",
    policy: str | None = None,
) -> InvoiceState:
    return InvoiceState(
        invoice_id,
        account,
        currency,
        D(amount or open_amount),
        D(open_amount),
        date(2026, 1, due),
        date(2026, 1, 1),
        policy,
    )


def pay(amount: str, reference: str | None = None, currency: str = "COP", pid: str = "P1") -> IncomingPayment:
    return IncomingPayment(pid, "A1", currency, D(amount), date(2026, 1, 15), reference)


@pytest.mark.parametrize(
    ("raw", "key"),
    [("POL-000123", "pol123"), ("pol 123", "pol123"), (" Pol_0123 ", "pol123"), ("100", "100"), ("0", "0")],
)
def test_normalize_reference(raw: str, key: str) -> None:
    assert normalize_reference(raw) == key


def test_rule_1_explicit_reference_wins_over_oldest() -> None:
    invoices = [inv("I1", "100", 5), inv("I2", "300", 20)]
    app = match_payment(pay("300", "I2"), invoices)
    assert app.rule == "reference"
    assert [(a.invoice_id, a.amount, a.open_after) for a in app.allocations] == [("I2", D("300"), D("0"))]
    assert app.credit_created == 0


def test_rule_1_excess_goes_to_the_other_invoices_then_credit() -> None:
    invoices = [inv("I1", "100", 5), inv("I2", "300", 20)]
    app = match_payment(pay("450", "I2"), invoices)
    assert [(a.invoice_id, a.amount) for a in app.allocations] == [("I2", D("300")), ("I1", D("100"))]
    assert app.credit_created == D("50")


def test_rule_2_normalized_policy_number() -> None:
    invoices = [inv("I1", "100", 5), inv("I2", "300", 20, policy="POL-000123")]
    app = match_payment(pay("300", "pol 123"), invoices)
    assert app.rule == "normalized_reference"
    assert app.allocations[0].invoice_id == "I2"


def test_rule_2_normalized_invoice_number() -> None:
    invoices = [inv("FAC-0042", "100", 5), inv("FAC-0043", "100", 6)]
    app = match_payment(pay("100", "fac 43"), invoices)
    assert (app.rule, app.allocations[0].invoice_id) == ("normalized_reference", "FAC-0043")


def test_rule_2_policy_number_inside_remittance_text() -> None:
    invoices = [inv("I1", "100", 5), inv("I2", "300", 20, policy="AUTO-1001")]
    app = match_payment(pay("300", "PAGO POLIZA AUTO-1001 CUOTA 3"), invoices)
    assert (app.rule, app.allocations[0].invoice_id) == ("normalized_reference", "I2")


def test_rule_2_matches_whole_words_only() -> None:
    """'1' is a policy number here, but '1001' in the text must not match it."""
    invoices = [inv("I1", "100", 5, policy="1"), inv("I2", "300", 20)]
    app = match_payment(pay("300", "PAGO 1001"), invoices)
    assert app.rule == "exact_amount"


def test_resolve_account_from_remittance_text() -> None:
    invoices = [inv("I1", "100", 5, account="A1", policy="AUTO-1001"), inv("I2", "1", 5, account="A2")]
    assert resolve_account("PAGO POLIZA AUTO 1001", "COP", invoices) == ("A1", "normalized_reference", False)


def test_rule_3_exact_amount_needs_exactly_one_candidate() -> None:
    invoices = [inv("I1", "100", 5), inv("I2", "300", 20)]
    app = match_payment(pay("300", "unknown text"), invoices)
    assert (app.rule, app.allocations[0].invoice_id) == ("exact_amount", "I2")
    twice = [inv("I1", "300", 5), inv("I2", "300", 20)]
    app = match_payment(pay("300"), twice)
    assert app.rule == "oldest_first"
    assert app.allocations[0].invoice_id == "I1"


def test_rule_4_one_payment_across_many_invoices_oldest_due_first() -> None:
    invoices = [inv("I3", "100", 25), inv("I1", "100", 5), inv("I2", "100", 10)]
    app = match_payment(pay("250"), invoices)
    assert app.rule == "oldest_first"
    assert [(a.invoice_id, a.amount, a.open_after) for a in app.allocations] == [
        ("I1", D("100"), D("0")),
        ("I2", D("100"), D("0")),
        ("I3", D("50"), D("50")),
    ]


def test_several_partial_payments_on_one_invoice() -> None:
    invoice = inv("I1", "100", 5)
    first = match_payment(pay("30", pid="P1"), [invoice])
    assert first.allocations[0].open_after == D("70")
    invoice = inv("I1", "70", 5, amount="100")
    second = match_payment(pay("30", pid="P2"), [invoice])
    assert second.allocations[0].open_after == D("40")
    invoice = inv("I1", "40", 5, amount="100")
    third = match_payment(pay("40", pid="P3"), [invoice])
    assert (third.rule, third.allocations[0].open_after, third.credit_created) == ("exact_amount", D("0"), 0)


def test_rule_5_no_open_invoice_means_credit_balance() -> None:
    app = match_payment(pay("80"), [inv("I1", "0", 5, amount="100")])
    assert (app.rule, app.allocations, app.credit_created) == ("credit_balance", (), D("80"))


def test_overpayment_then_new_invoice_consumes_credit() -> None:
    app = match_payment(pay("150"), [inv("I1", "100", 5)])
    assert app.credit_created == D("50")
    lots = [CreditLot("P1", "COP", app.credit_created, date(2026, 1, 15))]
    uses = apply_credit(inv("I2", "80", 28), lots)
    assert [(u.payment_id, u.amount, u.lot_remaining, u.open_after) for u in uses] == [
        ("P1", D("50"), D("0"), D("30"))
    ]


def test_credit_is_per_currency() -> None:
    lots = [CreditLot("P1", "USD", D("50"), date(2026, 1, 1))]
    assert apply_credit(inv("I2", "80", 28), lots) == []


def test_multi_currency_never_mixes() -> None:
    invoices = [inv("I1", "100", 5, currency="USD"), inv("I2", "100", 6)]
    app = match_payment(pay("100", currency="USD"), invoices)
    assert [a.invoice_id for a in app.allocations] == ["I1"]
    eur = match_payment(pay("100", currency="EUR"), invoices)
    assert (eur.rule, eur.credit_created) == ("credit_balance", D("100"))


def test_tolerance_writes_off_small_underpayment() -> None:
    tolerance = Tolerance(absolute=D("1000"), ratio=D("0.005"))
    app = match_payment(pay("199500", "I1"), [inv("I1", "200000", 5)], tolerance)
    assert (app.rule, app.matched_by) == ("tolerance", "reference")
    assert app.allocations[0].written_off == D("500")
    assert app.allocations[0].open_after == 0
    # beyond the ratio (0.5% of 100000 = 500) it stays open
    app = match_payment(pay("99000", "I1"), [inv("I1", "100000", 5)], tolerance)
    assert (app.rule, app.allocations[0].open_after, app.written_off) == ("reference", D("1000"), 0)


def test_reversal_reopens_invoices_and_removes_credit() -> None:
    invoices = [inv("I1", "0", 5, amount="100"), inv("I2", "30", 20, amount="80")]
    allocs = [Allocation("P1", "I1", D("100"), D("0")), Allocation("P1", "I2", D("50"), D("30"))]
    lots = [
        CreditLot("P1", "COP", D("20"), date(2026, 1, 15)),
        CreditLot("P9", "COP", D("5"), date(2026, 1, 1)),
    ]
    rev = reverse("P1", allocs, invoices, lots)
    assert [(r.invoice_id, r.amount, r.open_after) for r in rev.reopened] == [
        ("I1", D("100"), D("100")),
        ("I2", D("50"), D("80")),
    ]
    assert rev.credit_removed == D("20")


def test_reversal_undoes_write_off_too() -> None:
    allocs = [Allocation("P1", "I1", D("99.5"), D("0"), D("0.5"))]
    rev = reverse("P1", allocs, [inv("I1", "0", 5, amount="100")], [])
    assert (rev.reopened[0].amount, rev.reopened[0].open_after) == (D("100"), D("100"))


def test_shrink_frees_latest_payment_first() -> None:
    invoice = inv("I1", "0", 5, amount="100")
    allocs = [Allocation("P1", "I1", D("60"), D("40")), Allocation("P2", "I1", D("40"), D("0"))]
    open_after, freed = shrink(invoice, D("70"), allocs)
    assert (open_after, freed) == (D("0"), [("P2", D("30"))])
    open_after, freed = shrink(invoice, D("0"), allocs)
    assert freed == [("P2", D("40")), ("P1", D("60"))]
    open_after, freed = shrink(inv("I1", "40", 5, amount="100"), D("120"), allocs[:1])
    assert (open_after, freed) == (D("60"), [])


def test_manual_application_targets_the_chosen_invoice() -> None:
    invoices = [inv("I1", "100", 5), inv("I2", "100", 20)]
    app = apply_manually(pay("150"), invoices, "I2")
    assert app.rule == "manual"
    assert [(a.invoice_id, a.amount) for a in app.allocations] == [("I2", D("100")), ("I1", D("50"))]


def test_resolve_account_without_account_id() -> None:
    invoices = [
        inv("I1", "100", 5, account="A1", policy="POL-1"),
        inv("I2", "100", 5, account="A2", policy="POL-2"),
    ]
    assert resolve_account("I2", "COP", invoices) == ("A2", "reference", False)
    assert resolve_account("pol 0001", "COP", invoices) == ("A1", "normalized_reference", False)
    assert resolve_account("nothing", "COP", invoices) == (None, None, False)
    shared = [*invoices, inv("I3", "1", 5, account="A3", policy="pol-2")]
    assert resolve_account("POL-2", "COP", shared) == (None, None, True)


def test_tolerance_config_parsing_and_tenant_override() -> None:
    table = parse_tolerances(
        {
            "default": {"COP": {"absolute": "1000"}},
            "tenants": {"acme": {"COP": {"absolute": "5000", "ratio": "0.01"}}},
        }
    )
    assert table.for_("other", "COP") == Tolerance(D("1000"), None)
    assert table.for_("acme", "COP") == Tolerance(D("5000"), D("0.01"))
    assert not table.for_("acme", "USD").allows(D("0.01"), D("100"))
    with pytest.raises(ToleranceConfigError, match=r"default\.COP\.absolute"):
        parse_tolerances({"default": {"COP": {"absolute": 0.5}}})
    with pytest.raises(ToleranceConfigError, match="unknown keys"):
        parse_tolerances({"default": {"COP": {"max": "1"}}})
