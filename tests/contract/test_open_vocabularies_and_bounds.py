"""Labels never cost money, amounts fit what every service stores, and no field takes control characters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.events.registry import InvalidEvent, decode
from libs.events.vocabulary import (
    ADJUSTMENT_REASONS,
    CANCELLATION_REASONS,
    PAYMENT_METHODS,
    REVERSAL_REASONS,
    normalise_label,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(event_type: str, **data: Any) -> dict[str, Any]:
    raw = json.loads((FIXTURES / f"{event_type}.v1.json").read_text())
    raw["data"].update(data)
    return raw


def _payment(**data: Any) -> Any:
    return decode(json.dumps(_fixture("cobranza.payment.received", **data))).payload


@pytest.mark.parametrize(
    ("label", "method"),
    [
        ("transfer", "bank_transfer"),
        ("Transferencia", "bank_transfer"),
        ("TRANSFERENCIA BANCARIA", "bank_transfer"),
        ("wire", "bank_transfer"),
        ("Consignación", "bank_transfer"),
        ("PSE", "pse"),
        ("nequi", "wallet"),
        ("Daviplata", "wallet"),
        ("tarjeta de crédito", "card"),
        ("Débito automático", "direct_debit"),
        ("efectivo", "cash"),
        ("libranza", "payroll"),
        ("check", "cheque"),
    ],
)
def test_known_payment_labels_are_normalised_and_the_original_kept(label: str, method: str) -> None:
    payment = _payment(method=label)
    assert payment.method == method
    assert payment.method_detail == label


def test_canonical_method_has_no_detail() -> None:
    payment = _payment(method="bank_transfer")
    assert (payment.method, payment.method_detail) == ("bank_transfer", None)


def test_an_unknown_method_is_other_and_the_money_is_kept() -> None:
    payment = _payment(method="Zelle 🚀")
    assert payment.method == "other"
    assert payment.method_detail == "Zelle 🚀"


def test_a_detail_sent_by_the_core_system_is_not_overwritten() -> None:
    payment = _payment(method="nequi", method_detail="app Nequi, celular 300…")
    assert payment.method_detail == "app Nequi, celular 300…"


@given(st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\x00" not in s))
def test_no_method_label_is_ever_rejected(label: str) -> None:
    payment = _payment(method=label)
    assert payment.method in PAYMENT_METHODS.values


@pytest.mark.parametrize(
    ("event_type", "label", "reason"),
    [
        ("cobranza.payment.reversed", "cheque devuelto", "bounced_cheque"),
        ("cobranza.payment.reversed", "AM04", "direct_debit_return"),
        ("cobranza.payment.reversed", "contracargo", "chargeback"),
        ("cobranza.payment.reversed", "something new", "other"),
        ("cobranza.invoice.adjusted", "Nota Crédito", "credit_note"),
        ("cobranza.invoice.adjusted", "endoso", "endorsement"),
        ("cobranza.invoice.cancelled", "Revocación", "policy_cancelled"),
        ("cobranza.invoice.cancelled", "castigo de cartera", "written_off"),
    ],
)
def test_reasons_from_outside_are_open(event_type: str, label: str, reason: str) -> None:
    payload = decode(json.dumps(_fixture(event_type, reason=label))).payload
    assert payload.reason == reason
    assert payload.reason_detail == label


def test_vocabularies_are_consistent() -> None:
    for vocabulary in (PAYMENT_METHODS, REVERSAL_REASONS, ADJUSTMENT_REASONS, CANCELLATION_REASONS):
        for value in vocabulary.values:
            assert vocabulary.canonical(value) == value
    assert normalise_label("  Débito-Automático ") == "debito_automatico"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e30", "14 digits"),
        ("100000000000000", "14 digits"),
        ("10.00001", "4 decimal places"),
        ("NaN", "finite"),
    ],
)
def test_amounts_beyond_what_services_store_are_rejected(amount: str, message: str) -> None:
    with pytest.raises(InvalidEvent, match=rf"data\.amount.*{message}"):
        _payment(amount=amount)


@pytest.mark.parametrize("amount", ["99999999999999.9999", "0.0001", "1250.50", "10.10000"])
def test_amounts_that_fit_are_accepted(amount: str) -> None:
    assert _payment(amount=amount).amount > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payment_id", "PAY\x00-1"),
        ("reference", "POLIZA\x00"),
        ("payer_name", "ANA\x1b[31m"),
        ("account_id", "A\x7f"),
    ],
)
def test_control_characters_are_rejected_with_the_field_path(field: str, value: str) -> None:
    with pytest.raises(InvalidEvent, match=rf"data\.{field}.*control characters"):
        _payment(**{field: value})


def test_free_text_keeps_tabs_and_newlines() -> None:
    assert _payment(reference="PAGO\tPOLIZA\nAUTO-1001").reference == "PAGO\tPOLIZA\nAUTO-1001"


def test_control_characters_in_the_envelope_are_rejected() -> None:
    raw = _fixture("cobranza.payment.received")
    raw["id"] = "evt\x00-1"
    with pytest.raises(Exception, match="control characters"):
        decode(json.dumps(raw))


def test_the_control_character_rule_is_unicodes_for_every_code_point() -> None:
    """The fast regexes say exactly what Unicode's categories Cc and Cs say (text keeps tab, LF, CR)."""
    import unicodedata

    from libs.events import types

    for code_point in range(0x110000):
        ch = chr(code_point)
        control = unicodedata.category(ch) in ("Cc", "Cs")
        assert bool(types._CONTROL_IN_IDENTIFIER.search(ch)) == control, hex(code_point)
        assert bool(types._CONTROL_IN_TEXT.search(ch)) == (control and ch not in "\t\n\r"), hex(code_point)
