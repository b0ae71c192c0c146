"""segmentation: account profiles, rule-based segments, probability of payment and value."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.segmentation.adapters.orm import metadata
from services.segmentation.entrypoints.api import router
from services.segmentation.service_layer import privacy
from services.segmentation.service_layer.handlers import BATCH_HANDLERS

SPEC = ServiceSpec(
    name="segmentation",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    batch_handlers={**BATCH_HANDLERS, "cobranza.customer.erased": privacy.on_customers_erased},
    routers=(router,),
    http_port=8003,
    description="Account profiles, segments from versioned rules, probability-of-payment score and value.",
)
