"""reporting: portfolio, promise and contact projections; SQL views for BI; a dashboard."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.reporting.adapters.orm import metadata
from services.reporting.entrypoints.api import router
from services.reporting.service_layer import handlers

SPEC = ServiceSpec(
    name="reporting",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    handlers={
        "cobranza.invoice.issued": handlers.on_invoice_issued,
        "cobranza.invoice.adjusted": handlers.on_invoice_adjusted,
        "cobranza.invoice.cancelled": handlers.on_invoice_cancelled,
        "cobranza.account.aged": handlers.on_account_aged,
        "cobranza.payment.received": handlers.on_payment_received,
        "cobranza.payment.reversed": handlers.on_payment_reversed,
        "cobranza.payment.applied": handlers.on_payment_applied,
        "cobranza.payment.unapplied": handlers.on_payment_unapplied,
        "cobranza.payment.reversal_applied": handlers.on_payment_reversal_applied,
        "cobranza.promise.made": handlers.on_promise_made,
        "cobranza.promise.kept": handlers.on_promise_kept,
        "cobranza.promise.broken": handlers.on_promise_broken,
        "cobranza.contact.due": handlers.on_contact_due,
        "cobranza.contact.outcome": handlers.on_contact_outcome,
    },
    routers=(router,),
    http_port=8007,
    description=(
        "Portfolio by bucket, ramo, asesor, oficina and agencia from reconciliation's allocations, "
        "per currency; suspense; promise and contact KPIs; dashboard."
    ),
)
