"""aging: days past due and delinquency buckets per invoice and account."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.aging.adapters.orm import metadata
from services.aging.entrypoints.api import router
from services.aging.service_layer.handlers import (
    MIDNIGHT_TIMER,
    on_invoice_adjusted,
    on_invoice_cancelled,
    on_invoice_issued,
    on_midnight,
    on_payment_applied,
    on_payment_reversal_applied,
)

SPEC = ServiceSpec(
    name="aging",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    handlers={
        "cobranza.invoice.issued": on_invoice_issued,
        "cobranza.invoice.adjusted": on_invoice_adjusted,
        "cobranza.invoice.cancelled": on_invoice_cancelled,
        "cobranza.payment.applied": on_payment_applied,
        "cobranza.payment.reversal_applied": on_payment_reversal_applied,
    },
    timers={MIDNIGHT_TIMER: on_midnight},
    routers=(router,),
    http_port=8002,
    description="Days past due per invoice and account, delinquency buckets, account aged events.",
)
