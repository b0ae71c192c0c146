"""ingest validates a debtor's e-mail once (``normalise_email``) and sets it on the contract's
``Customer`` without the contract checking it again (the bulk path's cost): these tests hold that
what ingest builds is exactly what the contract itself makes of the same values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from libs.events.payloads.invoices import Customer, InvoiceIssued
from services.ingest.domain.requests import CustomerIn, InvoiceIn

CUSTOMERS = [
    {"customer_id": "C1", "name": "Ana", "phone": "+57 300 123 4567"},
    {"customer_id": "C2", "name": " Bea ", "email": "Bea.Ruiz@EXAMPLE.com", "country": "co"},
    {"customer_id": "C3", "name": "Ñandú SAS", "kind": "company", "email": "pagos@ñandú.co", "phone": "3001234567", "country": "CO"},
    {"customer_id": "C4", "name": "Dan", "email": "dan@example.org", "timezone": "Europe/Madrid", "country": "ES", "document_id": "900.123.456-7", "preferred_channels": ["email", "sms"], "region": "Madrid"},
    {"customer_id": "C5", "name": "Eve", "phone": "0044 20 7946 0958"},
]  # fmt: skip


@pytest.mark.parametrize("raw", CUSTOMERS, ids=lambda r: r["customer_id"])
def test_a_standardised_debtor_is_what_the_contract_makes_of_it(raw: dict[str, object]) -> None:
    """The debtor is validated by the contract except its e-mail, set afterwards from
    ``normalise_email``: the contract's own e-mail check must give the same value."""
    debtor = CustomerIn.model_validate(raw).standardised()
    assert Customer.model_validate(debtor.model_dump()) == debtor


def test_an_invoice_of_a_cached_debtor_equals_the_validated_one() -> None:
    invoice = InvoiceIn.model_validate(
        {
            "invoice_id": " I1 ",
            "account_id": "A1",
            "customer": CUSTOMERS[3],
            "amount": "1500.50",
            "currency": "cop",
            "issued_on": "2026-01-05",
            "due_on": "2026-01-20",
            "product_line": "vida",
            "installment_number": 2,
        }
    )
    built = invoice.to_contract()
    validated = InvoiceIssued.model_validate(built.model_dump())
    assert built == validated
    assert built.model_dump(mode="json", exclude_none=True) == validated.model_dump(
        mode="json", exclude_none=True
    )
    assert (built.invoice_id, built.currency, built.amount, built.due_on) == (
        "I1",
        "COP",
        Decimal("1500.50"),
        date(2026, 1, 20),
    )
