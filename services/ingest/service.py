"""ingest: receivables, payments and customers in from core systems (REST, files, Kafka)."""

from __future__ import annotations

from pathlib import Path

from libs.events.catalog import Topics
from libs.runtime.service import ServiceSpec
from services.ingest.adapters import erasures  # noqa: F401  (the erasure tombstones' table on ``metadata``)
from services.ingest.adapters.orm import metadata
from services.ingest.entrypoints.api import router
from services.ingest.entrypoints.inbound import guarded_inbound
from services.ingest.entrypoints.privacy_api import router as privacy_router

SPEC = ServiceSpec(
    name="ingest",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    raw_batch_topics={Topics.INBOUND: guarded_inbound},
    routers=(router, privacy_router),
    http_port=8001,
    description="Takes invoices, payments and customer data from core systems and publishes validated events.",
)
