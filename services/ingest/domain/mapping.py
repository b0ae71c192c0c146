"""Column mappings: how one source system's CSV/Excel columns become ingest's fields.

A mapping file (``services/ingest/mappings/<source>.yaml``) maps *our* field paths
(``amount``, ``customer.phone``) to the file's column headers, per kind, plus how that
source writes dates and decimals. Values are converted here; validation is the request
models' job, and every error is reported with our field path and the file's column.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["invoices", "payments"]
DATE_FIELDS = frozenset({"issued_on", "due_on", "received_on"})
AMOUNT_FIELDS = frozenset({"amount"})
LIST_FIELDS = frozenset({"customer.preferred_channels"})
REQUIRED: dict[Kind, frozenset[str]] = {
    "invoices": frozenset({"invoice_id", "account_id", "amount", "due_on"}),
    "payments": frozenset({"payment_id", "amount", "received_on"}),
}


class KindMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str] = Field(description="our field path -> the file's column header")
    defaults: dict[str, str] = Field(default_factory=dict, description="field values when the file has none")


class SourceMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    description: str | None = None
    date_format: str = "%Y-%m-%d"
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal[".", ",", " ", "'", ""] = ""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    sheet: str | None = Field(default=None, description="xlsx: the worksheet (default: the first)")
    invoices: KindMapping | None = None
    payments: KindMapping | None = None

    def for_kind(self, kind: Kind) -> KindMapping:
        mapping = self.invoices if kind == "invoices" else self.payments
        if mapping is None:
            raise ValueError(f"mapping {self.source!r} has no {kind} section")
        return mapping

    def detect_kind(self, headers: list[str]) -> Kind:
        """The kind whose required columns are all in the header row."""
        present = set(headers)
        for kind in ("invoices", "payments"):
            section = self.invoices if kind == "invoices" else self.payments
            if section is None:
                continue
            needed = {section.columns[f] for f in REQUIRED[kind] if f in section.columns}
            if needed and needed <= present:
                return kind
        raise ValueError(f"the header row {headers} matches neither the invoices nor the payments mapping")

    def missing_columns(self, kind: Kind, headers: list[str]) -> list[str]:
        section = self.for_kind(kind)
        return [c for f, c in section.columns.items() if f in REQUIRED[kind] and c not in headers]

    def convert_amount(self, raw: Any) -> str:
        if isinstance(raw, bool):
            raise ValueError("is not an amount")
        if isinstance(raw, int | Decimal):
            return str(raw)
        if isinstance(raw, float):  # Excel stores numbers as binary floats: take the shortest repr
            return repr(raw)
        text = str(raw).strip().replace("$", "").replace(" ", "")
        if self.thousands_separator:
            text = text.replace(self.thousands_separator, "")
        if self.decimal_separator == ",":
            text = text.replace(",", ".")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(
                f"{raw!r} is not an amount (decimal separator {self.decimal_separator!r})"
            ) from None
        return format(value, "f")

    def convert_date(self, raw: Any) -> str:
        if isinstance(raw, datetime):
            return raw.date().isoformat()
        if isinstance(raw, date):
            return raw.isoformat()
        text = str(raw).strip()
        try:
            return datetime.strptime(text, self.date_format).date().isoformat()
        except ValueError:
            raise ValueError(f"{text!r} does not match the date format {self.date_format!r}") from None

    def apply(self, kind: Kind, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """One file row -> (nested field dict, [(field path, error)])."""
        section = self.for_kind(kind)
        out: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []
        values: dict[str, Any] = dict(section.defaults)
        for field, column in section.columns.items():
            value = raw.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            values[field] = value
        for field, value in values.items():
            try:
                if field in DATE_FIELDS:
                    value = self.convert_date(value)
                elif field in AMOUNT_FIELDS:
                    value = self.convert_amount(value)
                elif field in LIST_FIELDS:
                    value = [v.strip() for v in str(value).split(",") if v.strip()]
                elif not isinstance(value, str):
                    value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            except ValueError as exc:
                errors.append((field, str(exc)))
                continue
            _put(out, field.split("."), value)
        return out, errors

    def column_for(self, kind: Kind, field_path: str) -> str | None:
        return self.for_kind(kind).columns.get(field_path)


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"


def load_mapping(source: str, directory: Path = MAPPINGS_DIR) -> SourceMapping:
    """``<source>.yaml`` (or ``.json``) from the mappings directory, else ``default.yaml``."""
    for name in (source, "default"):
        for suffix in (".yaml", ".yml", ".json"):
            path = directory / f"{name}{suffix}"
            if path.exists():
                return load_mapping_file(path, source=source)
    raise FileNotFoundError(f"no mapping for source {source!r} in {directory}")


def load_mapping_file(path: Path, *, source: str | None = None) -> SourceMapping:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    if source is not None:
        data = {**data, "source": source}
    return SourceMapping.model_validate(data)
