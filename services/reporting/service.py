"""reporting: portfolio, promise and contact projections; SQL views for BI; a dashboard."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.reporting.adapters.orm import metadata
from services.reporting.entrypoints.api import router
from services.reporting.entrypoints.login import router as login_router
from services.reporting.service_layer import handlers, privacy

SPEC = ServiceSpec(
    name="reporting",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    batch_handlers={
        "cobranza.invoice.issued": handlers.on_invoices,
        "cobranza.invoice.adjusted": handlers.on_invoices,
        "cobranza.invoice.cancelled": handlers.on_invoices,
        "cobranza.account.aged": handlers.on_account_aged,
        "cobranza.payment.received": handlers.on_payments,
        "cobranza.payment.reversed": handlers.on_payments,
        "cobranza.payment.applied": handlers.on_allocations,
        "cobranza.payment.unapplied": handlers.on_allocations,
        "cobranza.payment.reversal_applied": handlers.on_allocations,
        "cobranza.promise.made": handlers.on_promises,
        "cobranza.promise.kept": handlers.on_promises,
        "cobranza.promise.broken": handlers.on_promises,
        "cobranza.contact.due": handlers.on_contacts,
        "cobranza.contact.outcome": handlers.on_contacts,
        "cobranza.customer.erased": privacy.on_customers_erased,
    },
    routers=(router, login_router),
    http_port=8007,
    description=(
        "Portfolio by bucket, ramo, asesor, oficina and agencia from reconciliation's allocations, "
        "per currency; suspense; promise and contact KPIs; dashboard."
    ),
)
