"""File import: stream rows, validate each, commit in chunks, report every row.

A bank statement's lines are more than payments: returns and reversals become reversals
of the payment they take back, fees and other debits are reported as not being payments
(``service_layer.statements``); a row is never skipped in silence.

Rows are read one at a time and committed ``chunk_size`` at a time (one transaction per
chunk: its ``received`` rows and outbox events together), so a million-row file never sits
in memory and a crash loses at most one chunk, which a re-run then reports as new while
the committed ones come back as duplicates.
"""

from __future__ import annotations

import csv
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError

from libs.events.payloads.payments import PaymentReceived
from libs.runtime.context import ServiceContext
from services.ingest.adapters.files import (
    STATEMENT_FORMATS,
    FileFormat,
    RawRow,
    UnsupportedFormat,
    csv_headers,
    detect_format,
    iter_csv,
    iter_statement,
    iter_xlsx,
    xlsx_headers,
)
from services.ingest.adapters.statements.model import StatementLine
from services.ingest.domain.mapping import Kind, SourceMapping, load_mapping
from services.ingest.domain.requests import CustomerIn, InvoiceIn
from services.ingest.domain.standardise import StandardisationError
from services.ingest.service_layer.commands import (
    FieldError,
    ItemResult,
    ingest_invoices,
    ingest_payments,
    validate_each,
    validation_errors,
)
from services.ingest.service_layer.statements import (
    NOT_A_PAYMENT,
    not_payments,
    remember_credits,
    settle_returns,
)

KindChoice = Literal["invoices", "payments", "auto"]
REPORT_HEADER = ("row", "status", "id", "reason")


class FileRejected(ValueError):
    """The file as a whole cannot be imported (unknown format, missing required columns)."""


@dataclass
class ImportSummary:
    file: str
    source: str
    kind: Kind
    format: FileFormat
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    not_payments: int = 0
    seconds: float = 0.0
    results: list[ItemResult] = field(default_factory=list)

    def count(self, result: ItemResult) -> None:
        self.rows += 1
        if result.status == "accepted":
            self.accepted += 1
        elif result.status == "duplicate":
            self.duplicate += 1
        else:
            self.rejected += 1
            if is_not_a_payment(result):
                self.not_payments += 1

    @property
    def needs_attention(self) -> int:
        """Rejected rows a person must look at (a statement's fees and debits need not)."""
        return self.rejected - self.not_payments

    def as_dict(self, *, with_rows: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "source": self.source,
            "kind": self.kind,
            "format": self.format,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "not_payments": self.not_payments,
        }
        if with_rows:
            out["report"] = [report_row(r) for r in self.results]
        return out


def report_reason(result: ItemResult) -> str:
    """The report's ``reason``: every error of the row, each with its field path."""
    if result.status != "rejected":
        return result.reason
    return "; ".join(f"{e.path}: {e.message}" if e.path else e.message for e in result.errors)


def report_row(result: ItemResult) -> dict[str, Any]:
    row: dict[str, Any] = {
        "row": result.index,
        "status": result.status,
        "id": result.id,
        "reason": report_reason(result) or None,
    }
    if result.errors:
        row["errors"] = [{"path": e.path, "message": e.message} for e in result.errors]
    return row


def is_not_a_payment(result: ItemResult) -> bool:
    return any(not e.path and e.message.startswith(NOT_A_PAYMENT) for e in result.errors)


@dataclass(frozen=True)
class _Plan:
    format: FileFormat
    kind: Kind
    rows: Iterator[RawRow]
    mapping: SourceMapping | None


def _plan(path: Path, kind: KindChoice, mapping: SourceMapping) -> _Plan:
    try:
        fmt = detect_format(path)
    except UnsupportedFormat as exc:
        raise FileRejected(str(exc)) from None
    if fmt in STATEMENT_FORMATS:
        if kind == "invoices":
            raise FileRejected(f"{path.name} is a bank statement: it holds payments, not invoices")
        return _Plan(fmt, "payments", iter_statement(path, fmt), None)
    if fmt == "xlsx":
        headers = xlsx_headers(path, sheet=mapping.sheet)
    else:
        headers = csv_headers(path, delimiter=mapping.delimiter, encoding=mapping.encoding)
    try:
        chosen: Kind = mapping.detect_kind(headers) if kind == "auto" else kind
        missing = mapping.missing_columns(chosen, headers)
    except ValueError as exc:
        raise FileRejected(str(exc)) from None
    if missing:
        raise FileRejected(f"columns missing for {chosen} (mapping {mapping.source!r}): {', '.join(missing)}")
    rows = (
        iter_xlsx(path, sheet=mapping.sheet)
        if fmt == "xlsx"
        else iter_csv(path, delimiter=mapping.delimiter, encoding=mapping.encoding)
    )
    return _Plan(fmt, chosen, rows, mapping)


def _validate(
    plan: _Plan, rows: Sequence[RawRow]
) -> list[tuple[InvoiceIn | PaymentReceived | None, list[FieldError]]]:
    """Each row as a request model, or None and every error found in it (the mapping's conversions,
    the model's fields, the debtor's contact data), in order; the rows validated in one call."""
    prepared: list[tuple[Any, list[FieldError]]] = []
    for row in rows:
        if plan.mapping is not None:
            values, problems = plan.mapping.apply(plan.kind, row.values)
        else:
            values, problems = row.values, list(row.errors)
        prepared.append((values, [FieldError(path, message) for path, message in problems]))
    model: type[InvoiceIn] | type[PaymentReceived] = InvoiceIn if plan.kind == "invoices" else PaymentReceived
    checked = validate_each(model, [values for values, _ in prepared])
    out: list[tuple[InvoiceIn | PaymentReceived | None, list[FieldError]]] = []
    for (values, errors), item in zip(prepared, checked, strict=True):
        if isinstance(item, ValidationError):
            failed = {e.path for e in errors}
            errors += [e for e in validation_errors(item) if e.path not in failed]
            if plan.kind == "invoices":
                errors += _customer_errors(values, {e.path for e in errors})
            out.append((None, errors))
        else:
            out.append((item, []) if not errors else (None, errors))
    return out


def _customer_errors(values: dict[str, Any], failed: set[str]) -> list[FieldError]:
    """The contact data errors standardisation finds, so a row with a bad amount AND a bad
    phone reports both (standardisation otherwise only runs on rows that validate)."""
    customer = values.get("customer")
    if not isinstance(customer, dict):
        return []
    try:
        CustomerIn.model_validate(customer).standardised()
    except ValidationError:
        return []  # already reported field by field
    except StandardisationError as exc:
        return [] if exc.field in failed else [FieldError(exc.field, exc.message)]
    return []


def _with_columns(plan: _Plan, errors: list[FieldError]) -> list[FieldError]:
    """Name the file's column next to our field path so the sender can find the cell."""
    if plan.mapping is None:
        return errors
    out = []
    for e in errors:
        column = plan.mapping.column_for(plan.kind, e.path)
        out.append(FieldError(e.path, f"{e.message} (column {column!r})") if column else e)
    return out


def import_file(
    ctx: ServiceContext,
    path: Path,
    *,
    source: str,
    kind: KindChoice = "auto",
    mapping: SourceMapping | None = None,
    report: TextIO | None = None,
    chunk_size: int = 1000,
    progress: Callable[[ImportSummary], None] | None = None,
    keep_results: bool = False,
    tenant: str | None = None,
) -> ImportSummary:
    """Import ``path`` for ``source`` into ``tenant`` (default: the platform's); write one
    report line per row to ``report`` (CSV: row,status,id,reason)."""
    started = time.perf_counter()
    chosen = mapping or load_mapping(source)
    try:
        plan = _plan(path, kind, chosen)
    except UNREADABLE as exc:
        raise FileRejected(_unreadable(path, exc, chosen, imported=None)) from None
    summary = ImportSummary(file=path.name, source=source, kind=plan.kind, format=plan.format)
    writer = csv.writer(report) if report is not None else None
    if writer is not None:
        writer.writerow(REPORT_HEADER)
    try:
        for chunk in _chunks(plan.rows, chunk_size):
            results = _import_chunk(
                ctx, plan, source, chunk, correlation_id=f"file:{source}:{path.name}", tenant=tenant
            )
            for result in results:
                summary.count(result)
                if writer is not None:
                    writer.writerow((result.index, result.status, result.id or "", report_reason(result)))
            if keep_results:
                summary.results.extend(results)
            summary.seconds = time.perf_counter() - started
            if progress is not None:
                progress(summary)
    except UNREADABLE as exc:
        raise FileRejected(_unreadable(path, exc, chosen, imported=summary.rows)) from None
    summary.seconds = time.perf_counter() - started
    return summary


UNREADABLE = (ET.ParseError, UnicodeDecodeError, zipfile.BadZipFile, InvalidFileException)
"""What a damaged file raises while it streams: the file is refused with where it broke."""


def _unreadable(path: Path, exc: Exception, mapping: SourceMapping, *, imported: int | None) -> str:
    if isinstance(exc, ET.ParseError):
        line, column = exc.position
        what = f"not well-formed XML at line {line}, column {column}"
    elif isinstance(exc, UnicodeDecodeError):
        what = f"not {mapping.encoding} text (set ``encoding`` in the source's mapping)".replace("``", "'")
    else:
        what = "not a readable xlsx workbook"
    done = (
        f"; the {imported} rows before it were imported (after fixing the file, re-import it: "
        "they come back as duplicates)"
        if imported
        else ""
    )
    return f"{path.name} is {what}{done}"


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _row_id(plan: _Plan, row: RawRow) -> str | None:
    name = "invoice_id" if plan.kind == "invoices" else "payment_id"
    column = plan.mapping.column_for(plan.kind, name) if plan.mapping is not None else name
    value = row.values.get(column) if column else None
    return str(value).strip() or None if value is not None else None


def _import_chunk(
    ctx: ServiceContext,
    plan: _Plan,
    source: str,
    chunk: list[RawRow],
    *,
    correlation_id: str,
    tenant: str | None,
) -> list[ItemResult]:
    results: dict[int, ItemResult] = {}
    invoices: list[tuple[int, InvoiceIn]] = []
    payments: list[tuple[int, PaymentReceived]] = []
    returns: list[tuple[int, StatementLine]] = []
    others: list[tuple[int, StatementLine]] = []
    documents: list[RawRow] = []
    for row in chunk:
        line = row.statement
        if line is not None and not row.errors and line.movement != "credit":
            (returns if line.movement == "return" else others).append((row.number, line))
        else:
            documents.append(row)
    for row, (item, errors) in zip(documents, _validate(plan, documents), strict=True):
        if item is None:
            results[row.number] = ItemResult(
                row.number, "rejected", _row_id(plan, row), errors=_with_columns(plan, errors)
            )
        elif isinstance(item, InvoiceIn):
            invoices.append((row.number, item))
        else:
            payments.append((row.number, item))
    with ctx.unit_of_work(correlation_id=correlation_id, tenant=tenant) as uow:
        accepted = ingest_invoices(uow, source, invoices) + ingest_payments(uow, source, payments)
        if plan.format in STATEMENT_FORMATS:
            lines = {row.number: row.statement for row in chunk if row.statement is not None}
            remember_credits(uow, source, [(lines[r.index], r) for r in accepted if r.index in lines])
            accepted += settle_returns(uow, source, returns) + not_payments(uow, source, others)
    for result in accepted:
        results[result.index] = (
            ItemResult(
                result.index, result.status, result.id, result.event_id, _with_columns(plan, result.errors)
            )
            if result.errors
            else result
        )
    return [results[row.number] for row in chunk]
