"""Which bucket an (account, currency) aging never announced is in, without hard-coding its name.

Aging announces bucket *changes* only, so an (account, currency) that has always been
current is never announced, and bucket names are the tenant's own. But a bucket scheme
starts at 0 days past due and is contiguous, so the first bucket of a tenant's scheme
can be learned from what aging does announce:

1. an ``account.aged`` with 0 days past due names the first bucket (0 DPD is only there);
2. the first ``account.aged`` ever seen for an (account, currency) moves it *out of* the
   first bucket, where every account starts: its ``previous_bucket`` is the first bucket.

Until a tenant's first bucket is learned, a never-announced account has no bucket (NULL).
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.events.payloads.accounts import AccountAged


@dataclass(frozen=True)
class FirstBucket:
    bucket: str
    stage: str | None


def first_bucket_evidence(aged: AccountAged, *, announced_before: bool) -> FirstBucket | None:
    """What this event tells about the tenant's first bucket, if anything."""
    if aged.days_past_due == 0:
        return FirstBucket(aged.bucket, aged.stage)
    if not announced_before and aged.previous_bucket is not None:
        return FirstBucket(aged.previous_bucket, aged.previous_stage)
    return None
