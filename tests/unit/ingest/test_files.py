"""Column mappings, the streaming readers and file import with row-level rejects."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from services.ingest.adapters.files import detect_format, iter_statement
from services.ingest.domain.mapping import load_mapping
from services.ingest.service_layer.files import FileRejected, import_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
POLIZAS_HEADER = [
    "Factura", "Poliza", "Cuota", "Valor", "Fecha Emision", "Fecha Vencimiento", "Ramo",
    "Tomador", "Nombre Tomador", "Documento", "Correo", "Celular",
]  # fmt: skip


def polizas_row(
    invoice: str, amount: str = "1.250.000,50", due: str = "20/01/2026", phone: str = "300 123 4567"
) -> list[str]:
    return [
        invoice,
        "POL-" + invoice,
        "1",
        amount,
        "05/01/2026",
        due,
        "auto",
        "C-" + invoice,
        "Ana",
        "52.111.222",
        "ana@example.com",
        phone,
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ";") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def outbox_events(ctx) -> list[dict]:
    with ctx.sessions() as session:
        values = session.execute(
            select(ctx.spec.tables.outbox.c.value).order_by(ctx.spec.tables.outbox.c.id)
        ).scalars()
        return [json.loads(v) for v in values]


def test_mapping_converts_source_formats_to_our_fields() -> None:
    mapping = load_mapping("core_polizas")
    values, errors = mapping.apply("invoices", dict(zip(POLIZAS_HEADER, polizas_row("F1"), strict=True)))
    assert errors == []
    assert values["amount"] == "1250000.50"
    assert (values["issued_on"], values["due_on"]) == ("2026-01-05", "2026-01-20")
    assert values["customer"]["country"] == "CO"  # a default of the mapping
    assert values["currency"] == "COP"
    _, errors = mapping.apply(
        "invoices", dict(zip(POLIZAS_HEADER, polizas_row("F2", amount="x", due="2026-01-20"), strict=True))
    )
    assert [e[0] for e in errors] == ["amount", "due_on"]


def test_unknown_source_falls_back_to_our_field_names() -> None:
    assert load_mapping("some_new_system").for_kind("payments").columns["payment_id"] == "payment_id"


def test_kind_is_detected_from_the_headers() -> None:
    mapping = load_mapping("core_polizas")
    assert mapping.detect_kind(POLIZAS_HEADER) == "invoices"
    assert mapping.detect_kind(["Recibo", "Poliza", "Valor Pagado", "Fecha Pago"]) == "payments"
    with pytest.raises(ValueError, match="neither"):
        mapping.detect_kind(["a", "b"])


def test_bank_statements_yield_every_entry_with_what_it_is() -> None:
    camt = list(iter_statement(FIXTURES / "camt053.xml", "camt053"))
    assert detect_format(FIXTURES / "camt053.xml") == "camt053"
    assert [(r.values["payment_id"], r.statement.movement) for r in camt if r.statement] == [
        ("BANK-REF-1", "credit"),
        ("FEE-1", "debit"),
        ("ZERO-1", "credit"),
        (camt[3].values["payment_id"], "credit"),
    ]
    assert camt[3].values["payment_id"].startswith("BS-")  # EndToEndId NOTPROVIDED, no bank reference
    assert camt[0].values["payer_name"] == "JUAN PEREZ"
    assert camt[0].values["reference"] == "PAGO POLIZA AUTO-1001"
    assert camt[3].values["reference"] == "INV-2002"
    mt = list(iter_statement(FIXTURES / "statement.mt940", "mt940"))
    assert detect_format(FIXTURES / "statement.mt940") == "mt940"
    assert [(r.values["amount"], r.statement.movement) for r in mt if r.statement] == [
        ("150000.00", "credit"),
        ("20000.00", "debit"),
        ("75000.50", "credit"),
    ]
    assert mt[0].values["payment_id"] == "BANKREF1"
    assert mt[2].values["payment_id"].startswith("BS-")  # NONREF: a fingerprint, never "NONREF"
    assert "INV-1001" in mt[0].values["reference"]


def test_a_rejected_row_lists_every_error(make_platform, tmp_path: Path) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    path = write_csv(
        tmp_path / "cartera.csv",
        POLIZAS_HEADER,
        [polizas_row("F1", amount="x", due="31/02/2026", phone="12")],
    )
    report = io.StringIO()
    summary = import_file(ctx, path, source="core_polizas", report=report, keep_results=True)
    assert summary.rejected == 1
    assert [e.path for e in summary.results[0].errors] == ["amount", "due_on", "customer.phone"]
    (line,) = list(csv.DictReader(io.StringIO(report.getvalue())))
    reason = line["reason"]
    assert reason.startswith("amount:") and "; due_on:" in reason and "; customer.phone:" in reason


def test_csv_import_reports_every_row_and_emits_only_valid_new_ones(make_platform, tmp_path: Path) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    path = write_csv(
        tmp_path / "cartera.csv",
        POLIZAS_HEADER,
        [
            polizas_row("F1"),
            polizas_row("F2", amount="-5"),
            polizas_row("F3", due="31/02/2026"),
            polizas_row("F1"),  # repeated inside the file
            polizas_row("F4", phone="12"),
        ],
    )
    report = io.StringIO()
    summary = import_file(ctx, path, source="core_polizas", report=report, chunk_size=2)
    assert (summary.kind, summary.rows, summary.accepted, summary.duplicate, summary.rejected) == (
        "invoices",
        5,
        1,
        1,
        3,
    )
    lines = list(csv.DictReader(io.StringIO(report.getvalue())))
    assert [(r["row"], r["status"]) for r in lines] == [
        ("2", "accepted"), ("3", "rejected"), ("4", "rejected"), ("5", "duplicate"), ("6", "rejected"),
    ]  # fmt: skip
    assert lines[1]["reason"].startswith("amount:") and "'Valor'" in lines[1]["reason"]
    assert lines[2]["reason"].startswith("due_on:")
    assert lines[4]["reason"].startswith("customer.phone:")
    events = outbox_events(ctx)
    assert [e["data"]["invoice_id"] for e in events] == ["F1"]
    assert events[0]["source"] == "/sources/core_polizas"
    assert events[0]["data"]["customer"]["phone"] == "+573001234567"
    assert events[0]["data"]["customer"]["timezone"] == "America/Bogota"

    again = import_file(ctx, path, source="core_polizas")  # the same file twice: nothing new
    assert (again.accepted, again.duplicate) == (0, 2)
    assert len(outbox_events(ctx)) == 1
    other_source = import_file(ctx, path, source="core_polizas_b", mapping=load_mapping("core_polizas"))
    assert other_source.accepted == 1  # duplicates are per source system
    minted = outbox_events(ctx)[-1]["data"]
    assert (minted["invoice_id"], minted["natural_id"]) == ("core_polizas_b:F1", "F1")


def test_xlsx_import_streams_typed_cells(make_platform, tmp_path: Path) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    wb = Workbook()
    ws = wb.active
    ws.append(["payment_id", "account_id", "amount", "currency", "received_on", "method"])
    ws.append(["P1", "A1", 1500.5, "COP", date(2026, 1, 5), "pse"])
    ws.append(["P2", "A1", "abc", "COP", date(2026, 1, 5), "pse"])
    ws.append([None, None, None, None, None, None])
    ws.append(["P3", None, 20000, "COP", "2026-01-07", "cash"])
    path = tmp_path / "recaudos.xlsx"
    wb.save(path)
    summary = import_file(ctx, path, source="banco_x", kind="auto", keep_results=True)
    assert summary.kind == "payments"
    assert [(r.index, r.status) for r in summary.results] == [
        (2, "accepted"),
        (3, "rejected"),
        (5, "accepted"),
    ]
    assert summary.results[1].errors[0].path == "amount"
    amounts = {e["data"]["payment_id"]: e["data"]["amount"] for e in outbox_events(ctx)}
    assert amounts == {"P1": "1500.5", "P3": "20000"}


def test_bank_statement_import_rejects_zero_amounts(make_platform) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    summary = import_file(ctx, FIXTURES / "camt053.xml", source="bancolombia", keep_results=True)
    assert [(r.index, r.status) for r in summary.results] == [
        (1, "accepted"),
        (2, "rejected"),  # a fee: reported, not a debtor payment
        (3, "rejected"),
        (4, "accepted"),
    ]
    assert (summary.rejected, summary.not_payments, summary.needs_attention) == (2, 1, 1)
    assert summary.results[2].errors[0].path == "amount"
    events = outbox_events(ctx)
    assert all("account_id" not in e["data"] for e in events)
    assert events[0]["subject"] == "unidentified:BANK-REF-1"
    with pytest.raises(FileRejected, match="bank statement"):
        import_file(ctx, FIXTURES / "statement.mt940", source="bancolombia", kind="invoices")


def test_missing_required_columns_reject_the_file(make_platform, tmp_path: Path) -> None:
    ctx = make_platform(["ingest"]).context("ingest")
    path = write_csv(tmp_path / "x.csv", ["Factura", "Valor"], [["F1", "10"]])
    with pytest.raises(FileRejected, match="Poliza"):
        import_file(ctx, path, source="core_polizas", kind="invoices")


def test_cli_imports_with_progress_and_report(make_platform, tmp_path: Path, monkeypatch) -> None:
    from libs.platform.cli import app

    ctx = make_platform(["ingest"]).context("ingest")
    monkeypatch.setenv("DATABASE_URL", ctx.engine.url.render_as_string(hide_password=False))
    report = tmp_path / "report.csv"
    result = CliRunner().invoke(
        app,
        ["ingest", "file", str(FIXTURES / "statement.mt940"), "--source", "banco_y", "--report", str(report)],
    )
    assert result.exit_code == 0, result.output  # the fee is reported, it needs nobody
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["accepted"], summary["rejected"], summary["not_payments"]) == (2, 1, 1)
    lines = report.read_text().splitlines()
    assert lines[0] == "row,status,id,reason"
    assert lines[2].startswith("2,rejected,BS-") and "not a debtor payment: debit of 20000.00 COP" in lines[2]
    with ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(ctx.spec.tables.outbox)).scalar_one() == 2
    events = outbox_events(ctx)
    assert {e["type"] for e in events} == {"cobranza.payment.received"}
    assert events[0]["data"]["payment_id"] == "BANKREF1"

    returns = CliRunner().invoke(
        app,
        ["ingest", "file", str(FIXTURES / "statements" / "camt053_returns.xml"), "--source", "banco_y"],
    )
    assert returns.exit_code == 3  # returns whose original nobody knows need a person

    other_tenant = CliRunner().invoke(
        app,
        [
            "ingest",
            "file",
            str(FIXTURES / "statement.mt940"),
            "--source",
            "banco_y",
            "--tenant",
            "aseguradora-b",
        ],
    )
    assert other_tenant.exit_code == 0, other_tenant.output
    assert json.loads(other_tenant.stdout.strip().splitlines()[-1])["accepted"] == 2  # another tenant's money
    assert {e["tenantid"] for e in outbox_events(ctx)} == {"default", "aseguradora-b"}
