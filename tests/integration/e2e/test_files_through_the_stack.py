"""A CSV of invoices and a camt.053 bank statement land through the real stack (files -> ingest ->
Kafka -> reconciliation -> Kafka -> aging); balances in reconciliation and aging agree to the cent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from libs.platform.registry import load_spec
from libs.runtime.worker import ServiceWorker
from services.aging.adapters.orm import invoices as aging_invoices
from services.ingest.service_layer.files import import_file
from services.reconciliation.adapters.orm import invoices as recon_invoices
from services.reconciliation.adapters.orm import payments as recon_payments

pytestmark = pytest.mark.kafka
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
SERVICES = ("ingest", "reconciliation", "aging")

CSV = """invoice_id,account_id,amount,currency,issued_on,due_on,product_line,policy_number,customer_id,customer_name,customer_kind,country,timezone
INV-A1,ACC-1,200000.00,COP,2026-01-02,2026-01-20,auto,AUTO-1001,C-1,Juan Pérez,person,CO,America/Bogota
INV-A2,ACC-1,100000.55,COP,2026-01-02,2026-02-20,auto,AUTO-1001,C-1,Juan Pérez,person,CO,America/Bogota
INV-B1,ACC-2,95000.10,COP,2026-01-02,2026-01-25,hogar,HOG-77,C-2,María Gómez,person,CO,America/Bogota
"""


def open_amounts(worker: ServiceWorker, table) -> dict[str, Decimal]:  # type: ignore[no-untyped-def]
    with worker.ctx.sessions() as session:
        rows = session.execute(select(table.c.invoice_id, table.c.open_amount)).all()
    return {r.invoice_id: Decimal(r.open_amount) for r in rows}


def test_csv_and_camt053_balances_agree_to_the_cent(
    service_database, kafka_settings, wait_until, tmp_path: Path
) -> None:
    settings = kafka_settings(service_database(list(SERVICES)))
    workers = {name: ServiceWorker(load_spec(name), settings) for name in SERVICES}
    for worker in workers.values():
        worker.start_background()
    try:
        invoices_csv = tmp_path / "cartera.csv"
        invoices_csv.write_text(CSV, encoding="utf-8")
        summary = import_file(workers["ingest"].ctx, invoices_csv, source="core", kind="invoices")
        assert (summary.accepted, summary.rejected) == (3, 0)
        for name, table in (("aging", aging_invoices), ("reconciliation", recon_invoices)):
            wait_until(
                lambda w=workers[name], t=table: len(open_amounts(w, t)) == 3, 90, f"invoices in {name}"
            )

        statement = import_file(workers["ingest"].ctx, FIXTURES / "camt053.xml", source="bancolombia")
        assert statement.accepted >= 2  # the credit lines; debits and zero amounts are not payments

        def settled() -> bool:
            with workers["reconciliation"].ctx.sessions() as session:
                seen = session.execute(select(recon_payments.c.payment_id)).all()
            return len(seen) == statement.accepted

        wait_until(settled, 90, "every statement line in reconciliation")
        # reconciliation has decided; wait until aging has applied what it published
        recon = {}

        def agree() -> bool:
            nonlocal recon
            recon = open_amounts(workers["reconciliation"], recon_invoices)
            return recon == open_amounts(workers["aging"], aging_invoices)

        wait_until(agree, 90, "aging to reflect reconciliation's allocations")
    finally:
        for worker in workers.values():
            worker.shutdown()

    assert set(recon) == {"INV-A1", "INV-A2", "INV-B1"}
    # the policy reference "PAGO POLIZA AUTO-1001" paid 150,000.00 of ACC-1, oldest invoice first
    assert recon["INV-A1"] == Decimal("50000.00")
    assert recon["INV-A2"] == Decimal("100000.55")
    assert recon["INV-B1"] == Decimal("95000.10")
