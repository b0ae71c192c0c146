"""When an (account, currency) is cured: its bucket is the scheme's current stage, whatever its name.

Bucket schemes are configured per tenant (aging's ``buckets.yaml``), so a bucket called
``al_dia`` may be the current one and a bucket called ``current`` may not exist. The answer,
in order of trust:

1. the ``stage`` aging put on ``cobranza.account.aged`` (``current`` means cured);
2. for older events without a stage, the stage the tenant's scheme gives the bucket's name;
3. for a bucket the scheme does not know, zero days past due.
"""

from __future__ import annotations

from collections.abc import Mapping

CURRENT_STAGE = "current"


def is_cured(stage: str | None, bucket: str, days_past_due: int, stages: Mapping[str, str]) -> bool:
    if stage is not None:
        return stage == CURRENT_STAGE
    if bucket in stages:
        return stages[bucket] == CURRENT_STAGE
    return days_past_due == 0
