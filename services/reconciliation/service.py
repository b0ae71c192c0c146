"""reconciliation: payments matched to invoices, credit balances, suspense, reversals."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.reconciliation.adapters.orm import metadata
from services.reconciliation.entrypoints.api import router
from services.reconciliation.service_layer import privacy
from services.reconciliation.service_layer.handlers import HANDLED, on_events

SPEC = ServiceSpec(
    name="reconciliation",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    batch_handlers=dict.fromkeys(HANDLED, on_events)
    | {"cobranza.customer.erased": privacy.on_customers_erased},
    routers=(router,),
    http_port=8006,
    description="Matches payments to invoices (reference, amount, oldest first), credit balances, "
    "suspense queue that resolves itself when the invoice or account link arrives, audited manual application, reversals, per-tenant tolerances.",
)
