"""SWIFT MT940 customer statements, as German, Dutch/Belgian and Latin American banks send them.

One file may hold several statements (one per ``:20:``, e.g. a week of days); each
``:61:`` statement line with the ``:86:`` that follows it becomes one ``StatementLine``.

``:61:`` is ``value date, [entry date], mark, [funds code], amount, type+code,
customer reference[//bank reference]``; the mark says the direction: ``C`` credit,
``D`` debit, ``RC`` reversal of a credit (money taken back), ``RD`` reversal of a debit.

``:86:`` is free text or structured:
- German (DK): a three-digit business code and ``?xx`` subfields: ``?00`` posting text,
  ``?20``-``?29`` and ``?60``-``?63`` purpose, ``?32``-``?33`` name, ``?34`` return code;
  inside the purpose SEPA keywords ``EREF+`` (end-to-end id), ``KREF+`` (customer
  reference), ``MREF+`` (mandate), ``SVWZ+`` (remittance text).
- Dutch/Belgian: ``/TAG/value`` pairs: ``/EREF/``, ``/REMI/`` (``USTD//text`` or
  ``STRD/CUR/ref``), ``/ORDP//NAME/``, ``/CNTP/iban/bic/name/city``, ``/MARF/`` (mandate),
  ``/RTRN/`` (return reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.ingest.adapters.statements.model import (
    Movement,
    StatementContext,
    StatementLine,
    clean_text,
    fingerprint,
    matching_keys,
    real_reference,
)

TAG = re.compile(r"^:(\d{2}[A-Z]?):", re.MULTILINE)
LINE_61 = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?(?P<amount>\d[\d,]*)"
    r"(?P<type>[NSF])(?P<code>[A-Z0-9]{3})(?P<refs>[^\n]*)(?:\n(?P<supplement>.*))?$",
    re.DOTALL,
)
GERMAN = re.compile(r"^(?P<gvc>\d{3})\?")
GERMAN_FIELD = re.compile(r"\?(\d{2})")
SEPA_KEYWORD = re.compile(
    r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|COAM|OAMT|PURP|SQTP|BREF|RREF)\+"
)
DUTCH_TAG = re.compile(
    r"/(EREF|PREF|MARF|CSID|CNTP|REMI|PURP|ULTC|ULTD|ULTB|BENM|ORDP|NAME|ID|ADDR|BIC|IBAN|RTRN|ISDT|CREF|TRCD"
    r"|SUM|EXCH|CHGS|OCMT|ATOS|SVCL|FX)/"
)
POINTERS = frozenset({"EREF", "PREF", "MARF", "CREF", "IREF"})
"""Dutch banks write the tag that holds the reference (``EREF``) in :61:'s reference field."""
GERMAN_RETURN_CODES = frozenset({"108", "109", "111"})
"""DK business codes of a direct debit or cheque given back (Rücklastschrift, Rückscheck)."""
RETURN_WORDS = ("RUECKLASTSCHRIFT", "RÜCKLASTSCHRIFT", "RUECKBELASTUNG", "RÜCKBELASTUNG", "RETOURE", "STORNO")
METHOD_BY_CODE = {"DDT": "direct_debit", "CHK": "cheque", "CSH": "cash", "TRF": "bank_transfer"}


@dataclass
class Details:
    """What ``:86:`` says about the line."""

    remittance: str | None = None
    payer_name: str | None = None
    end_to_end_id: str | None = None
    mandate_id: str | None = None
    customer_reference: str | None = None
    return_code: str | None = None
    posting_text: str | None = None
    business_code: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse_details(text: str) -> Details:
    flat = text.replace("\r", "").replace("\n", "")
    german = GERMAN.match(flat)
    if german is not None:
        return _german(german.group("gvc"), flat[3:])
    if DUTCH_TAG.search(flat) is not None and flat.lstrip().startswith("/"):
        return _dutch(flat)
    clean = clean_text(text, limit=len(text)) or ""
    details = Details(remittance=clean_text(clean))
    _sepa_keywords(clean, details)
    return details


def _german(gvc: str, rest: str) -> Details:
    fields: dict[str, str] = {}
    parts = GERMAN_FIELD.split(rest)
    for number, value in zip(parts[1::2], parts[2::2], strict=False):
        fields[number] = fields.get(number, "") + value
    purpose = "".join(fields.get(f"{n}", "") for n in [*range(20, 30), *range(60, 64)])
    details = Details(
        payer_name=clean_text(fields.get("32", "") + fields.get("33", "")),
        return_code=clean_text(fields.get("34")),
        posting_text=clean_text(fields.get("00")),
        business_code=gvc,
    )
    if not _sepa_keywords(purpose, details):
        details.remittance = clean_text(purpose)
    return details


def _sepa_keywords(purpose: str, details: Details) -> bool:
    """Fill ``details`` from ``EREF+``/``SVWZ+``… inside a purpose text; False when there are none."""
    found = list(SEPA_KEYWORD.finditer(purpose))
    if not found:
        return False
    values: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(purpose)
        values.setdefault(match.group(1), clean_text(purpose[match.end() : end], limit=len(purpose)) or "")
    details.end_to_end_id = values.get("EREF") or None
    details.mandate_id = values.get("MREF") or None
    details.customer_reference = values.get("KREF") or None
    details.remittance = clean_text(values.get("SVWZ"))
    if details.payer_name is None and values.get("ABWA"):
        details.payer_name = clean_text(values["ABWA"])
    details.extra = values
    return True


def _dutch(flat: str) -> Details:
    found = list(DUTCH_TAG.finditer(flat))
    values: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(flat)
        values.setdefault(match.group(1), flat[match.end() : end].strip("/ "))
    remittance = values.get("REMI", "")
    if remittance.startswith("USTD"):
        remittance = remittance[4:].lstrip("/")
    elif remittance.startswith("STRD"):
        remittance = remittance.split("/")[-1]
    name = values.get("NAME")
    if not name and values.get("CNTP"):
        counterparty = values["CNTP"].split("/")
        name = counterparty[2] if len(counterparty) > 2 else None
    return Details(
        remittance=clean_text(remittance),
        payer_name=clean_text(name),
        end_to_end_id=values.get("EREF") or None,
        mandate_id=values.get("MARF") or None,
        return_code=values.get("RTRN") or None,
        extra=values,
    )


@dataclass
class _Statement:
    reference: str = ""
    account: str = ""
    number: str = ""
    opened_on: str = ""
    currency: str = ""
    lines: list[tuple[str, str]] = field(default_factory=list)  # (:61:, :86:)


def _strip_envelope(text: str) -> str:
    """Drop SWIFT blocks ``{1:…}{2:…}{4:`` and the ``-}`` trailer around the text block."""
    text = re.sub(r"\{[1-3]:(?:\{[^{}]*\}|[^{}])*\}", "", text)
    return text.replace("{4:", "").replace("-}", "")


def _statements(text: str) -> Iterator[_Statement]:
    body = _strip_envelope(text.replace("\r\n", "\n"))
    marks = list(TAG.finditer(body))
    current: _Statement | None = None
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        tag, value = mark.group(1), body[mark.end() : end].strip("\n")
        value = "\n".join(v for v in value.split("\n") if v.strip() != "-")
        if tag == "20":
            if current is not None:
                yield current
            current = _Statement(reference=value.strip())
            continue
        if current is None:
            current = _Statement()
        if tag == "25":
            current.account = value.strip()
        elif tag == "28C":
            current.number = value.strip()
        elif tag in ("60F", "60M") and len(value) >= 10:
            current.opened_on = _date(value[1:7]).isoformat() if value[1:7].isdigit() else ""
            current.currency = value[7:10]
        elif tag == "61":
            current.lines.append((value, ""))
        elif tag == "86" and current.lines and not current.lines[-1][1]:
            current.lines[-1] = (current.lines[-1][0], value)
    if current is not None:
        yield current


def _date(yymmdd: str) -> date:
    return date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))


def _entry_date(value_date: date, mmdd: str | None) -> date:
    if not mmdd:
        return value_date
    month, day = int(mmdd[:2]), int(mmdd[2:])
    year = value_date.year
    if month == 1 and value_date.month == 12:
        year += 1
    elif month == 12 and value_date.month == 1:
        year -= 1
    return date(year, month, day)


def decode(raw: bytes) -> str:
    """UTF-8 when it is; else Latin-1 (ISO 8859-1), what German and Dutch banks' MT940 files are
    written in when they carry umlauts (and what never fails to decode)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def iter_mt940(path: Path) -> Iterator[StatementLine]:
    """Every ``:61:`` line of every statement in the file, in file order."""
    for statement in _statements(decode(path.read_bytes())):
        for position, (raw, info) in enumerate(statement.lines, start=1):
            yield _line(statement, position, raw, info)


def _movement(mark: str, details: Details) -> Movement:
    if mark == "C":
        return "credit"
    if mark == "RD":
        return "reversed_debit"
    if mark == "RC":
        return "return"
    posting = (details.posting_text or "").upper()
    if (
        details.business_code in GERMAN_RETURN_CODES
        or details.return_code is not None
        or any(word in posting for word in RETURN_WORDS)
    ):
        return "return"
    return "debit"


def _line(statement: _Statement, position: int, raw: str, info: str) -> StatementLine:
    context = StatementContext(
        account=statement.account,
        number="/".join(p for p in (statement.reference, statement.number) if p),
        date=statement.opened_on,
    )
    match = LINE_61.match(raw.strip())
    details = parse_details(info)
    if match is None:
        fallback = fingerprint(context, str(position), None, None, None, raw + info)
        return StatementLine(
            "credit",
            str(position),
            {"payment_id": fallback},
            errors=[("line", f"not an MT940 :61: statement line: {raw.strip()[:80]!r}")],
        )
    errors: list[tuple[str, str]] = []
    value_date: date | None
    booked_on: date | None
    try:
        value_date = _date(match.group("value"))
        booked_on = _entry_date(value_date, match.group("entry"))
    except ValueError:
        value_date = booked_on = None
        errors.append(("received_on", f"{match.group('value')!r} is not a date (YYMMDD)"))
    try:
        amount: Decimal | None = Decimal(match.group("amount").replace(",", "."))
    except InvalidOperation:
        amount = None
        errors.append(("amount", f"{match.group('amount')!r} is not an amount"))
    customer_ref, _, bank_ref = match.group("refs").partition("//")
    currency = statement.currency or None
    movement = _movement(match.group("mark"), details)
    own_ref = real_reference(customer_ref)
    if own_ref is not None and own_ref.upper() in POINTERS:
        own_ref = None
    remittance = clean_text(" ".join(p for p in (own_ref, details.remittance) if p))
    bank = real_reference(bank_ref)
    value_iso = value_date.isoformat() if value_date else None
    payment = {
        "payment_id": bank or fingerprint(context, str(position), value_iso, amount, currency, info),
        "amount": format(amount, "f") if amount is not None else None,
        "currency": currency,
        "received_on": booked_on.isoformat() if booked_on else None,
        "method": METHOD_BY_CODE.get(match.group("code"), "bank_transfer"),
        "reference": remittance,
        "payer_name": details.payer_name,
    }
    keys = matching_keys(
        end_to_end_id=details.end_to_end_id,
        mandate_id=details.mandate_id,
        reference=own_ref or details.customer_reference,
        amount=amount,
        currency=currency,
    )
    reason = None
    if movement == "return":
        reason = " ".join(p for p in (details.return_code, details.posting_text) if p) or "reversal"
    return StatementLine(
        movement=movement,
        position=str(position),
        payment={k: v for k, v in payment.items() if v is not None},
        keys=keys,
        original_ids=[bank] if bank else [],
        return_reason=reason,
        description=details.posting_text or remittance or "",
        errors=errors,
    )
