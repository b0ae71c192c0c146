"""File import: stream rows, validate each, commit in chunks, report every row.

Rows are read one at a time and committed ``chunk_size`` at a time (one transaction per
chunk: its ``received`` rows and outbox events together), so a million-row file never sits
in memory and a crash loses at most one chunk, which a re-run then reports as new while
the committed ones come back as duplicates.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import ValidationError

from libs.events.payloads.payments import PaymentReceived
from libs.runtime.context import ServiceContext
from services.ingest.adapters.files import (
    FileFormat,
    RawRow,
    csv_headers,
    detect_format,
    iter_camt053,
    iter_csv,
    iter_mt940,
    iter_xlsx,
    xlsx_headers,
)
from services.ingest.domain.mapping import Kind, SourceMapping, load_mapping
from services.ingest.domain.requests import InvoiceIn
from services.ingest.service_layer.commands import (
    FieldError,
    ItemResult,
    ingest_invoices,
    ingest_payments,
    validation_errors,
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
        }
        if with_rows:
            out["report"] = [
                {"row": r.index, "status": r.status, "id": r.id, "reason": r.reason or None}
                for r in self.results
            ]
        return out


@dataclass(frozen=True)
class _Plan:
    format: FileFormat
    kind: Kind
    rows: Iterator[RawRow]
    mapping: SourceMapping | None


def _plan(path: Path, kind: KindChoice, mapping: SourceMapping) -> _Plan:
    fmt = detect_format(path)
    if fmt in ("camt053", "mt940"):
        if kind == "invoices":
            raise FileRejected(f"{path.name} is a bank statement: it holds payments, not invoices")
        rows = iter_camt053(path) if fmt == "camt053" else iter_mt940(path)
        return _Plan(fmt, "payments", rows, None)
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


def _validate(plan: _Plan, row: RawRow) -> tuple[InvoiceIn | PaymentReceived | None, list[FieldError]]:
    if plan.mapping is not None:
        values, problems = plan.mapping.apply(plan.kind, row.values)
    else:
        values, problems = row.values, []
    errors = [FieldError(path, message) for path, message in problems]
    model: type[InvoiceIn] | type[PaymentReceived] = InvoiceIn if plan.kind == "invoices" else PaymentReceived
    try:
        item = model.model_validate(values)
    except ValidationError as exc:
        failed = {e.path for e in errors}
        errors += [e for e in validation_errors(exc) if e.path not in failed]
        return None, errors
    return (item, []) if not errors else (None, errors)


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
) -> ImportSummary:
    """Import ``path`` for ``source``; write one report line per row to ``report`` (CSV)."""
    started = time.perf_counter()
    plan = _plan(path, kind, mapping or load_mapping(source))
    summary = ImportSummary(file=path.name, source=source, kind=plan.kind, format=plan.format)
    writer = csv.writer(report) if report is not None else None
    if writer is not None:
        writer.writerow(REPORT_HEADER)
    for chunk in _chunks(plan.rows, chunk_size):
        results = _import_chunk(ctx, plan, source, chunk, correlation_id=f"file:{source}:{path.name}")
        for result in results:
            summary.count(result)
            if writer is not None:
                writer.writerow((result.index, result.status, result.id or "", result.reason))
        if keep_results:
            summary.results.extend(results)
        summary.seconds = time.perf_counter() - started
        if progress is not None:
            progress(summary)
    summary.seconds = time.perf_counter() - started
    return summary


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
    ctx: ServiceContext, plan: _Plan, source: str, chunk: list[RawRow], *, correlation_id: str
) -> list[ItemResult]:
    results: dict[int, ItemResult] = {}
    invoices: list[tuple[int, InvoiceIn]] = []
    payments: list[tuple[int, PaymentReceived]] = []
    for row in chunk:
        item, errors = _validate(plan, row)
        if item is None:
            results[row.number] = ItemResult(
                row.number, "rejected", _row_id(plan, row), errors=_with_columns(plan, errors)
            )
        elif isinstance(item, InvoiceIn):
            invoices.append((row.number, item))
        else:
            payments.append((row.number, item))
    with ctx.unit_of_work(correlation_id=correlation_id) as uow:
        accepted = ingest_invoices(uow, source, invoices) + ingest_payments(uow, source, payments)
    for result in accepted:
        results[result.index] = (
            ItemResult(
                result.index, result.status, result.id, result.event_id, _with_columns(plan, result.errors)
            )
            if result.errors
            else result
        )
    return [results[row.number] for row in chunk]
