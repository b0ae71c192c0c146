"""aging: days past due and delinquency buckets per invoice and account."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.aging.adapters.orm import metadata
from services.aging.entrypoints.api import router
from services.aging.service_layer import privacy
from services.aging.service_layer.handlers import (
    MIDNIGHT_TIMER,
    on_events,
    on_midnight,
)

SPEC = ServiceSpec(
    name="aging",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    batch_handlers=dict.fromkeys(
        (
            "cobranza.invoice.issued",
            "cobranza.invoice.adjusted",
            "cobranza.invoice.cancelled",
            "cobranza.payment.applied",
            "cobranza.payment.reversal_applied",
        ),
        on_events,
    )
    | {"cobranza.customer.erased": privacy.on_customers_erased},
    timers={MIDNIGHT_TIMER: on_midnight},
    routers=(router,),
    http_port=8002,
    description="Days past due per invoice and account, delinquency buckets, account aged events.",
)
