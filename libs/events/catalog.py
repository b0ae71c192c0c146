"""The topic catalog: every Kafka topic cobranza uses, with its key and retention.

Topics group an aggregate's event types so one account's history stays in order
on one partition (the record key is always the account id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DAY_MS = 24 * 60 * 60 * 1000


class Topics:
    INBOUND = "cobranza.inbound"
    INVOICES = "cobranza.invoices"
    CUSTOMERS = "cobranza.customers"
    PAYMENTS = "cobranza.payments"
    ALLOCATIONS = "cobranza.allocations"
    ACCOUNTS = "cobranza.accounts"
    SEGMENTS = "cobranza.segments"
    CONTACTS = "cobranza.contacts"
    PROMISES = "cobranza.promises"
    REFERENCE = "cobranza.reference"
    DEAD_LETTER = "cobranza.deadletter"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    key: str = "account_id"
    partitions: int = 6
    retention_ms: int = 30 * DAY_MS
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"

    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


CATALOG: tuple[TopicSpec, ...] = (
    TopicSpec(
        Topics.INBOUND,
        "Contract events published by core systems that already speak Kafka; ingest validates, "
        "standardises and de-duplicates them onto the topics below.",
        retention_ms=7 * DAY_MS,
    ),
    TopicSpec(Topics.INVOICES, "invoice issued / adjusted / cancelled", retention_ms=365 * DAY_MS),
    TopicSpec(
        Topics.CUSTOMERS,
        "customer upserted (contact points and consent); compacted: the latest state per customer",
        key="customer_id",
        retention_ms=-1,
        cleanup_policy="compact",
    ),
    TopicSpec(Topics.PAYMENTS, "payment received / reversed", retention_ms=365 * DAY_MS),
    TopicSpec(
        Topics.ALLOCATIONS,
        "payment applied / unapplied / allocations reversed (reconciliation)",
        retention_ms=365 * DAY_MS,
    ),
    TopicSpec(
        Topics.ACCOUNTS, "account aged and other delinquency state changes (aging)", retention_ms=365 * DAY_MS
    ),
    TopicSpec(Topics.SEGMENTS, "segment changed (segmentation)", retention_ms=365 * DAY_MS),
    TopicSpec(
        Topics.CONTACTS, "contact due (strategy) and contact outcome (notifier)", retention_ms=90 * DAY_MS
    ),
    TopicSpec(
        Topics.PROMISES, "promise made / kept / broken, payment plans (strategy)", retention_ms=365 * DAY_MS
    ),
    TopicSpec(
        Topics.REFERENCE,
        "reference data upserted by ingest (product lines, advisors, offices, agencies); compacted: "
        "the latest state per entity",
        key="entity id",
        partitions=1,
        retention_ms=-1,
        cleanup_policy="compact",
    ),
    TopicSpec(
        Topics.DEAD_LETTER,
        "records a consumer could not decode or handle: original bytes, with the reason in headers",
        key="original key",
        partitions=1,
        retention_ms=30 * DAY_MS,
    ),
)


def topic_spec(name: str) -> TopicSpec:
    for spec in CATALOG:
        if spec.name == name:
            return spec
    raise KeyError(f"topic {name!r} is not in the catalog")
