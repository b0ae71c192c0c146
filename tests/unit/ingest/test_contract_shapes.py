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


INVOICE_FIELDS = [
    {},
    {"invoice_id": " I2 ", "currency": "usd", "amount": "0.0001"},
    {"policy_number": "POL-1", "advisor_id": "ADV-1", "office_id": "OF-1", "agency_id": "AG-1"},
    {"installment_number": 12, "description": "  cuota 12 de 12  ", "due_on": "2026-01-05"},
    {"product_line": "soat", "amount": 250000, "issued_on": "2025-12-31", "due_on": "2026-02-28"},
]


@pytest.mark.parametrize("changes", INVOICE_FIELDS)
@pytest.mark.parametrize("raw", CUSTOMERS, ids=lambda r: r["customer_id"])
def test_the_contract_built_without_a_second_validation_is_the_validated_one(
    raw: dict[str, object], changes: dict[str, object]
) -> None:
    """``InvoiceIn.with_customer`` (``model_construct``) gives what ``InvoiceIssued.model_validate`` of the
    same values gave before: the same model and the same JSON in the outbox."""
    body: dict[str, object] = {
        "invoice_id": "I1",
        "account_id": " A1 ",
        "customer": raw,
        "amount": "1500.50",
        "currency": "COP",
        "issued_on": "2026-01-05",
        "due_on": "2026-01-20",
        "product_line": "vida",
        **changes,
    }
    invoice = InvoiceIn.model_validate(body)
    debtor = invoice.customer.standardised()
    before = InvoiceIssued.model_validate({**invoice.__dict__, "customer": debtor})
    built = invoice.with_customer(debtor)
    assert built == before
    assert built.model_dump_json(exclude_none=True) == before.model_dump_json(exclude_none=True)
    assert built.model_dump(mode="json", exclude_none=True) == before.model_dump(
        mode="json", exclude_none=True
    )


@pytest.mark.parametrize("raw", CUSTOMERS, ids=lambda r: r["customer_id"])
def test_a_debtor_read_back_from_the_table_is_the_standardised_one(raw: dict[str, object]) -> None:
    """``ingest.debtors`` keeps ``model_dump(mode="json")``; ``standardise_debtors`` builds it back."""
    import json

    from services.ingest.service_layer.debtors import _FIELDS

    debtor = CustomerIn.model_validate(raw).standardised()
    data = json.loads(json.dumps(debtor.model_dump(mode="json")))  # through JSONB
    back = Customer.model_construct(**{f: data.get(f) for f in _FIELDS})
    assert back == debtor
    assert back.model_dump_json(exclude_none=True) == debtor.model_dump_json(exclude_none=True)
