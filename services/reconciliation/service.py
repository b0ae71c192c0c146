"""reconciliation: payments matched to invoices, credit balances, suspense, reversals."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.reconciliation.adapters.orm import metadata
from services.reconciliation.entrypoints.api import router
from services.reconciliation.service_layer.handlers import (
    on_customer_upserted,
    on_invoice_adjusted,
    on_invoice_cancelled,
    on_invoice_issued,
    on_payment_received,
    on_payment_reversed,
)

SPEC = ServiceSpec(
    name="reconciliation",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    handlers={
        "cobranza.invoice.issued": on_invoice_issued,
        "cobranza.invoice.adjusted": on_invoice_adjusted,
        "cobranza.invoice.cancelled": on_invoice_cancelled,
        "cobranza.payment.received": on_payment_received,
        "cobranza.payment.reversed": on_payment_reversed,
        "cobranza.customer.upserted": on_customer_upserted,
    },
    routers=(router,),
    http_port=8006,
    description="Matches payments to invoices (reference, amount, oldest first), credit balances, "
    "suspense queue that resolves itself when the invoice or account link arrives, audited manual application, reversals, per-tenant tolerances.",
)
