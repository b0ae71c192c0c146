"""Contact standardisation and cross-source linking rules (pure, no I/O)."""

from __future__ import annotations

import pytest

from services.ingest.domain.requests import ContactPointIn, CustomerIn, CustomerUpsertIn
from services.ingest.domain.standardise import (
    Contact,
    KnownCustomer,
    StandardisationError,
    find_link,
    normalise_document,
    normalise_email,
    normalise_phone,
    primary_timezone,
    standardise_contact,
)


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("300 123 4567", "CO", "+573001234567"),
        ("(300) 123-4567", "CO", "+573001234567"),
        ("+57 300 123 4567", None, "+573001234567"),
        ("0057 300 123 4567", None, "+573001234567"),
        ("+1 212 555 0123", "CO", "+12125550123"),  # an explicit +code beats the customer's country
    ],
)
def test_phones_become_e164_read_in_the_customers_country(
    raw: str, country: str | None, expected: str
) -> None:
    assert normalise_phone(raw, country)[0] == expected


def test_phone_region_is_reported() -> None:
    assert normalise_phone("+52 55 1234 5678", None) == ("+525512345678", "MX")


@pytest.mark.parametrize("raw", ["12", "abc", "300 123 4567"])
def test_unreadable_phone_names_the_field(raw: str) -> None:
    with pytest.raises(StandardisationError) as err:
        normalise_phone(raw, None, field="customer.phone")
    assert err.value.field == "customer.phone"


def test_email_is_validated_and_domain_lower_cased() -> None:
    assert normalise_email("Ana.Perez@Example.COM") == "Ana.Perez@example.com"
    with pytest.raises(StandardisationError, match="email"):
        normalise_email("ana@@example")


def test_country_from_phone_and_timezone_from_country() -> None:
    filled = standardise_contact(Contact(phone="+57 300 123 4567"))
    assert (filled.country, filled.timezone, filled.phone) == ("CO", "America/Bogota", "+573001234567")
    assert standardise_contact(Contact(country="mx")).timezone == "America/Mexico_City"
    kept = standardise_contact(Contact(country="US", timezone="America/Los_Angeles"))
    assert kept.timezone == "America/Los_Angeles"
    assert primary_timezone("ZZ") is None


def test_no_country_anywhere_is_a_field_error() -> None:
    with pytest.raises(StandardisationError) as err:
        standardise_contact(Contact(email="a@example.com"), prefix="customer.")
    assert err.value.field == "customer.country"


def test_invoice_customer_is_standardised_into_the_contract() -> None:
    customer = CustomerIn(
        customer_id="C1", name="Ana", phone="3001234567", country="CO", document_id="900.123.456-7"
    )
    std = customer.standardised()
    assert (std.phone, std.timezone, std.document_id) == ("+573001234567", "America/Bogota", "9001234567")


def test_customer_contact_points_are_standardised_with_their_index() -> None:
    body = CustomerUpsertIn(
        name="Ana",
        country="CO",
        contact_points=[
            ContactPointIn(channel="whatsapp", value="300 123 4567", consent=True),
            ContactPointIn(channel="email", value="ana@EXAMPLE.com", consent=False),
        ],
    )
    event = body.to_contract("C1")
    assert [p.value for p in event.contact_points] == ["+573001234567", "ana@example.com"]
    assert event.phone == "+573001234567"  # taken from the phone contact point
    bad = body.model_copy(
        update={
            "contact_points": [*body.contact_points, ContactPointIn(channel="sms", value="12", consent=True)]
        }
    )
    with pytest.raises(StandardisationError) as err:
        bad.to_contract("C1")
    assert err.value.field == "contact_points.2.value"


def test_document_ids_compare_without_punctuation() -> None:
    assert normalise_document("900.123.456-7") == normalise_document("9001234567") == "9001234567"
    assert normalise_document(" - ") is None


def known(
    source: str, sid: str, doc: str | None = None, email: str | None = None, phone: str | None = None
) -> KnownCustomer:
    return KnownCustomer(source, sid, sid, doc, email, phone)


def test_linking_prefers_document_then_email_then_phone() -> None:
    by_phone = known("billing", "B-1", phone="+573001234567")
    by_email = known("billing", "B-2", email="ana@example.com")
    by_doc = known("crm", "X-9", doc="123")
    candidate = known("policy", "P-1", doc="123", email="ana@example.com", phone="+573001234567")
    assert find_link(candidate, [by_phone, by_email, by_doc]) == (by_doc, "document_id")
    assert find_link(
        known("policy", "P-1", email="ana@example.com", phone="+573001234567"), [by_phone, by_email]
    ) == (
        by_email,
        "email",
    )
    assert find_link(known("policy", "P-1", phone="+573001234567"), [by_phone]) == (by_phone, "phone")


def test_linking_ignores_the_same_source_and_missing_values() -> None:
    same_source = known("policy", "P-2", doc="123")
    assert find_link(known("policy", "P-1", doc="123"), [same_source]) is None
    assert find_link(known("policy", "P-1"), [known("crm", "X", None, None, None)]) is None
