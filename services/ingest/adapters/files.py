"""Streaming readers for the files core systems and banks hand us.

Every reader is a generator: one row in memory at a time (CSV via ``csv``, Excel via
openpyxl's read-only mode, camt via ``iterparse`` clearing each entry after use). MT940
statements are read whole; they are small by nature. Bank statements are read by
``services.ingest.adapters.statements``; here each of their lines becomes a numbered row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from services.ingest.adapters.statements.camt import iter_camt, root_kind
from services.ingest.adapters.statements.model import StatementLine
from services.ingest.adapters.statements.mt940 import iter_mt940

FileFormat = Literal["csv", "xlsx", "camt052", "camt053", "camt054", "mt940"]
STATEMENT_FORMATS: frozenset[FileFormat] = frozenset({"camt052", "camt053", "camt054", "mt940"})


class UnsupportedFormat(ValueError):
    """A file we recognise as none of the formats we read (an XML that is not a camt message)."""


@dataclass
class RawRow:
    """``number`` is what a person sees: the spreadsheet line (header = 1) or the statement
    line (1 = the file's first entry or batched transaction)."""

    number: int
    values: dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)
    statement: StatementLine | None = None


def detect_format(path: Path) -> FileFormat:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    with path.open("rb") as fh:
        head = fh.read(8192).decode("utf-8", errors="replace")
    if head.lstrip("\ufeff \r\n\t").startswith("<"):
        kind = root_kind(head)
        if kind == "camt052":
            return "camt052"
        if kind == "camt054":
            return "camt054"
        if kind == "camt053":
            return "camt053"
        raise UnsupportedFormat(
            f"{path.name} is XML but not an ISO 20022 camt.052/053/054 bank statement "
            "(BkToCstmrAcctRpt, BkToCstmrStmt or BkToCstmrDbtCdtNtfctn)"
        )
    if suffix in (".sta", ".mt940", ".940") or (":20:" in head and ":61:" in head):
        return "mt940"
    return "csv"


def iter_statement(path: Path, fmt: FileFormat) -> Iterator[RawRow]:
    """A bank statement's lines as rows numbered 1, 2, … in file order (a batch entry's
    transactions each get their own number)."""
    lines = iter_mt940(path) if fmt == "mt940" else iter_camt(path)
    for number, line in enumerate(lines, start=1):
        yield RawRow(number, dict(line.payment), list(line.errors), line)


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
