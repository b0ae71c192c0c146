"""The contracts' field validators accept and refuse exactly what they did before they were made cheaper.

Each check is compared with a frozen copy of the original implementation (the oracle below), over
the edge values of its rule and over generated strings, and through ``decode`` where the field sits
in a payload: control characters (C0, DEL, C1, surrogates; tab/LF/CR in text), other Unicode,
binary floats, NaN and infinities, the NUMERIC(18,4) digit limits and the e-mail forms.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, EmailStr, TypeAdapter, ValidationError

from libs.events import types
from libs.events.payloads.customers import CustomerUpserted
from libs.events.payloads.invoices import Customer
from libs.events.registry import InvalidEvent, decode

FIXTURES = Path(__file__).parent / "fixtures"

# --- the oracle: the validators as they were written first (regex search on every value) -------------
_ORACLE_IDENTIFIER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ORACLE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _oracle(pattern: re.Pattern[str], value: str) -> str | None:
    """The accepted value, or None where the original validator raised."""
    return None if pattern.search(value) else value


def _outcome(check: Any, value: str) -> tuple[str | None, str | None]:
    try:
        return check(value), None
    except ValueError as exc:
        return None, str(exc)


_EDGE_STRINGS = [
    "",
    "ACC-1",
    "acct 1",
    " padded ",
    "tab\there",
    "line\nfeed",
    "carriage\rreturn",
    "crlf\r\n",
    "nul\x00",
    "\x01start",
    "esc\x1b[31m",
    "unit\x1f",
    "del\x7f",
    "c1\x80",
    "nel\x85",
    "c1 end\x9f",
    "nbsp\u00a0",
    "soft\u00adhyphen",
    "zero\u200bwidth",
    "line\u2028sep",
    "para\u2029sep",
    "bom\ufeff",
    "private\ue000",
    "unassigned\U000e0080",
    "Peña Ñandú",
    "Łódź",
    "東京",
    "emoji 😀",
    "\U0010ffff",
    "lone\ud800",
    "trail\udfff",
    "ideographic\u3000space",
    "arabic\u0661\u0662",
]


@pytest.mark.parametrize("value", _EDGE_STRINGS)
def test_identifier_check_accepts_and_refuses_as_the_original(value: str) -> None:
    accepted, error = _outcome(types.printable_identifier, value)
    assert accepted == _oracle(_ORACLE_IDENTIFIER, value)
    if error is not None:
        bad = _ORACLE_IDENTIFIER.search(value)
        assert bad is not None
        assert error == f"identifiers must not contain control characters (found U+{ord(bad.group()):04X})"


@pytest.mark.parametrize("value", _EDGE_STRINGS)
def test_text_check_accepts_and_refuses_as_the_original(value: str) -> None:
    accepted, error = _outcome(types._printable_text, value)
    assert accepted == _oracle(_ORACLE_TEXT, value)
    if error is not None:
        bad = _ORACLE_TEXT.search(value)
        assert bad is not None
        assert error == (
            "text must not contain control characters other than tab and newline "
            f"(found U+{ord(bad.group()):04X})"
        )


def test_identifier_and_text_checks_agree_with_the_original_on_every_code_point() -> None:
    for code_point in range(0x110000):
        for value in (chr(code_point), f"a{chr(code_point)}b"):
            assert _outcome(types.printable_identifier, value)[0] == _oracle(_ORACLE_IDENTIFIER, value), hex(
                code_point
            )
            assert _outcome(types._printable_text, value)[0] == _oracle(_ORACLE_TEXT, value), hex(code_point)
        assert (unicodedata.category(chr(code_point)) in ("Cc", "Cs")) == (
            _oracle(_ORACLE_IDENTIFIER, chr(code_point)) is None
        )


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=40))
def test_identifier_and_text_checks_agree_with_the_original_on_generated_strings(value: str) -> None:
    assert _outcome(types.printable_identifier, value)[0] == _oracle(_ORACLE_IDENTIFIER, value)
    assert _outcome(types._printable_text, value)[0] == _oracle(_ORACLE_TEXT, value)


def _fixture(event_type: str, **data: Any) -> dict[str, Any]:
    raw = json.loads((FIXTURES / f"{event_type}.v1.json").read_text())
    raw["data"].update(data)
    return raw


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("ACC-1", True),
        ("Peña-東京-😀", True),
        ("nbsp\u00a0inside", True),
        ("zero\u200bwidth", True),
        ("tab\tinside", False),
        ("nul\x00", False),
        ("c1\x9f", False),
        ("del\x7f", False),
    ],
)
def test_identifiers_in_a_payload_through_decode(value: str, accepted: bool) -> None:
    raw = json.dumps(_fixture("cobranza.payment.received", payment_id=value))
    if accepted:
        assert decode(raw).payload.payment_id == value  # type: ignore[attr-defined]
    else:
        with pytest.raises(
            InvalidEvent, match=r"data\.payment_id: Value error, identifiers must not contain"
        ):
            decode(raw)


# --- money -----------------------------------------------------------------------------------------


class _Money(BaseModel):
    amount: types.Amount


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1250.50", Decimal("1250.50")),
        ("10.10000", Decimal("10.10000")),
        ("0E-10", Decimal("0E-10")),
        ("-0", Decimal("-0")),
        ("1E+2", Decimal("1E+2")),
        ("99999999999999.9999", Decimal("99999999999999.9999")),
        ("-99999999999999.9999", Decimal("-99999999999999.9999")),
        ("0.0001", Decimal("0.0001")),
        (12, Decimal(12)),
        (Decimal("3.5"), Decimal("3.5")),
    ],
)
def test_amounts_accepted(value: Any, expected: Decimal) -> None:
    amount = _Money.model_validate({"amount": value}).amount
    assert amount == expected
    assert str(amount) == str(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "never a binary float"),
        (1.0, "never a binary float"),
        (float("nan"), "never a binary float"),
        (True, "decimal string"),
        ("NaN", "finite"),
        ("sNaN", "finite"),
        ("Infinity", "finite"),
        ("-inf", "finite"),
        ("100000000000000", "14 digits"),
        ("-100000000000000", "14 digits"),
        ("1E+14", "14 digits"),
        ("1e400", "14 digits"),
        ("0.00001", "4 decimal places"),
        ("1.00000000000000000000000000001", "4 decimal places"),
        ("abc", "valid decimal"),
    ],
)
def test_amounts_refused(value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _Money.model_validate({"amount": value})


def test_a_json_float_amount_is_refused_through_decode() -> None:
    fixture = _fixture("cobranza.payment.received")
    fixture["data"]["amount"] = 1250.5
    with pytest.raises(InvalidEvent, match=r"data\.amount.*binary float"):
        decode(json.dumps(fixture))


# --- e-mail ----------------------------------------------------------------------------------------

_ORACLE_EMAIL = TypeAdapter(EmailStr)

_EMAILS = [
    "ana@example.com",
    "Ana.Perez@Example.COM",
    "  padded@example.com  ",
    "ana+tag@sub.example.co",
    "Ana Pérez <ana@example.com>",
    '"Ana Pérez" <ana@example.com>',
    "josé@ejemplo.co",
    "ana@bücher.de",
    "ana@xn--bcher-kva.de",
    '"quoted local"@example.com',
    "ana@[192.168.0.1]",
    "ana@localhost",
    "ana@example",
    "ana@@example.com",
    "ana.@example.com",
    "ana..perez@example.com",
    ".ana@example.com",
    "ana@example..com",
    "ana@-example.com",
    "ana@example.com.",
    "no-at-sign",
    "@example.com",
    "ana@",
    "ana\r\n@example.com",
    "ana@exa mple.com",
    "a" * 65 + "@example.com",
    "ana@" + "a" * 64 + ".com",
    "ana@" + ".".join(["a" * 60] * 5) + ".com",
    "ana@example.invalid",
    "ana@example.test",
    "",
]


def _email_outcome(adapter: TypeAdapter[Any], value: str) -> tuple[str | None, list[tuple[str, str]] | None]:
    try:
        return adapter.validate_python(value), None
    except ValidationError as exc:
        return None, [(e["type"], e["msg"]) for e in exc.errors()]


@pytest.mark.parametrize("value", _EMAILS)
def test_email_accepts_normalises_and_refuses_as_pydantics_email_str(value: str) -> None:
    ours = TypeAdapter(types.Email)
    expected = _email_outcome(_ORACLE_EMAIL, value)
    assert _email_outcome(ours, value) == expected
    assert _email_outcome(ours, value) == expected  # the second answer (cached) is the same


def test_email_field_in_the_payloads_through_decode() -> None:
    raw = _fixture("cobranza.customer.upserted", email="Ana.Perez@Example.COM")
    assert decode(json.dumps(raw)).payload.email == "Ana.Perez@example.com"  # type: ignore[attr-defined]
    raw = _fixture("cobranza.customer.upserted", email="ana@@example.com")
    with pytest.raises(InvalidEvent, match=r"data\.email: value is not a valid email address"):
        decode(json.dumps(raw))


def test_email_json_schema_is_unchanged() -> None:
    for model in (CustomerUpserted, Customer):
        schema = model.model_json_schema()
        texts = json.dumps(schema)
        assert '"format": "email"' in texts
    assert TypeAdapter(types.Email).json_schema() == _ORACLE_EMAIL.json_schema()
