"""Read-only views for the audit log's ``before``: the rule set a change replaces."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.segmentation.adapters.orm import rule_sets


def active_rules(session: Session, tenant: str) -> dict[str, Any] | None:
    """The tenant's active rule set (version, checksum, when, the document); None before the first."""
    row = (
        session.execute(
            select(
                rule_sets.c.version,
                rule_sets.c.checksum,
                rule_sets.c.source,
                rule_sets.c.activated_at,
                rule_sets.c.document,
            ).where(rule_sets.c.tenant_id == tenant, rule_sets.c.active.is_(True))
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)
