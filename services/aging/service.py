"""aging: days past due and delinquency buckets per invoice and account."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.aging.adapters.orm import metadata
from services.aging.service_layer.handlers import on_invoice_issued

SPEC = ServiceSpec(
    name="aging",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    handlers={"cobranza.invoice.issued": on_invoice_issued},
    http_port=8002,
    description="Days past due per invoice and account, delinquency buckets, account aged events.",
)
