"""Streaming readers for the files core systems and banks hand us.

Every reader is a generator: one row in memory at a time (CSV via ``csv``, Excel via
openpyxl's read-only mode, camt.053 via ``iterparse`` clearing each entry after use).
MT940 statements are parsed whole by the ``mt-940`` package; they are small by nature.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

FileFormat = Literal["csv", "xlsx", "camt053", "mt940"]


@dataclass
class RawRow:
    """``number`` is what a person sees: the spreadsheet line (header = 1) or the statement entry."""

    number: int
    values: dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)


def detect_format(path: Path) -> FileFormat:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    with path.open("rb") as fh:
        head = fh.read(4096).decode("utf-8", errors="replace")
    if "camt.053" in head or (head.lstrip().startswith("<") and "BkToCstmrStmt" in head):
        return "camt053"
    if suffix in (".sta", ".mt940", ".940") or (":20:" in head and ":61:" in head):
        return "mt940"
    if suffix == ".xml":
        return "camt053"
    return "csv"


def csv_headers(path: Path, *, delimiter: str, encoding: str) -> list[str]:
    with path.open(newline="", encoding=encoding) as fh:
        return [h.strip() for h in next(csv.reader(fh, delimiter=delimiter), [])]


def iter_csv(path: Path, *, delimiter: str, encoding: str) -> Iterator[RawRow]:
    with path.open(newline="", encoding=encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        headers = [h.strip() for h in next(reader, [])]
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            yield RawRow(number, dict(zip(headers, row, strict=False)))


def xlsx_headers(path: Path, *, sheet: str | None) -> list[str]:
    return next(_xlsx_rows(path, sheet), [])


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = workbook[sheet] if sheet else workbook.worksheets[0]
        first = True
        for row in ws.iter_rows(values_only=True):
            if first:
                first = False
                yield [str(h).strip() if h is not None else "" for h in row]
            else:
                yield list(row)
    finally:
        workbook.close()


def iter_xlsx(path: Path, *, sheet: str | None) -> Iterator[RawRow]:
    rows = _xlsx_rows(path, sheet)
    headers = next(rows, [])
    for number, row in enumerate(rows, start=2):
        if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in row):
            continue
        yield RawRow(number, dict(zip(headers, row, strict=False)))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(element: ET.Element, path: str) -> ET.Element | None:
    """Namespace-agnostic ``find`` for a slash-separated path of local names."""
    current: ET.Element | None = element
    for name in path.split("/"):
        if current is None:
            return None
        current = next((child for child in current if _local(child.tag) == name), None)
    return current


def _text(element: ET.Element, *paths: str) -> str | None:
    for path in paths:
        found = _find(element, path)
        if found is not None and found.text and found.text.strip():
            return found.text.strip()
    return None


def iter_camt053(path: Path) -> Iterator[RawRow]:
    """Credit entries of an ISO 20022 camt.053 statement as payment field dicts (any camt.053 version)."""
    statement_id = "stmt"
    number = 0
    for _event, element in ET.iterparse(path, events=("end",)):
        name = _local(element.tag)
        if name == "Id" and statement_id == "stmt":
            statement_id = (element.text or "stmt").strip()
        if name != "Ntry":
            continue
        number += 1
        if _text(element, "CdtDbtInd") == "CRDT" and _text(element, "RvslInd") != "true":
            yield _camt_entry(element, number, statement_id)
        element.clear()


def _camt_entry(entry: ET.Element, number: int, statement_id: str) -> RawRow:
    amount = _find(entry, "Amt")
    tx = _find(entry, "NtryDtls/TxDtls")
    scope = tx if tx is not None else entry
    ref = (
        _text(scope, "Refs/AcctSvcrRef", "Refs/EndToEndId", "Refs/TxId")
        or _text(entry, "AcctSvcrRef", "NtryRef")
        or f"{statement_id}-{number}"
    )
    if ref == "NOTPROVIDED":
        ref = f"{statement_id}-{number}"
    values: dict[str, Any] = {
        "payment_id": ref,
        "amount": amount.text.strip() if amount is not None and amount.text else None,
        "currency": amount.get("Ccy") if amount is not None else None,
        "received_on": _text(entry, "BookgDt/Dt", "ValDt/Dt")
        or (_text(entry, "BookgDt/DtTm", "ValDt/DtTm") or "")[:10]
        or None,
        "method": "bank_transfer",
        "reference": _remittance(scope),
        "payer_name": _text(scope, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm", "RltdPties/UltmtDbtr/Nm"),
    }
    return RawRow(number, {k: v for k, v in values.items() if v is not None})


def _remittance(scope: ET.Element) -> str | None:
    info = _find(scope, "RmtInf")
    if info is None:
        return None
    parts = [c.text.strip() for c in info if _local(c.tag) == "Ustrd" and c.text and c.text.strip()]
    creditor_ref = _text(info, "Strd/CdtrRefInf/Ref")
    if creditor_ref:
        parts.insert(0, creditor_ref)
    return " ".join(parts)[:300] or None


def iter_mt940(path: Path) -> Iterator[RawRow]:
    """Credit lines (``:61:`` with C/RD status... only plain credits) of a SWIFT MT940 statement."""
    import mt940

    transactions = mt940.models.Transactions()
    transactions.parse(path.read_text(encoding="utf-8", errors="replace"))
    statement_id = str(transactions.data.get("transaction_reference") or "stmt")
    for number, tx in enumerate(transactions, start=1):
        data = tx.data
        if data.get("status") != "C":
            continue
        amount = data.get("amount")
        try:
            value = Decimal(str(amount.amount)) if amount is not None else None
        except InvalidOperation:
            value = None
        bank_ref = data.get("bank_reference")
        customer_ref = data.get("customer_reference")
        if customer_ref == "NONREF":
            customer_ref = None
        entry_date = data.get("date")
        details = (data.get("transaction_details") or "").replace("\n", " ").strip()
        values: dict[str, Any] = {
            "payment_id": bank_ref or f"{statement_id}-{number}",
            "amount": format(value, "f") if value is not None else None,
            "currency": data.get("currency") or (amount.currency if amount is not None else None),
            "received_on": entry_date.isoformat() if entry_date is not None else None,
            "method": "bank_transfer",
            "reference": " ".join(p for p in (customer_ref, details) if p)[:300] or None,
        }
        yield RawRow(number, {k: v for k, v in values.items() if v is not None})
