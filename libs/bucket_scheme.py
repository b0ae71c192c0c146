"""Aging's bucket scheme as the services that name aging's buckets read it (strategy, reporting).

Aging owns the scheme and validates it (``services/aging/config.py``). Its consumers only need
the tenant's bucket names in order and their stages: strategy to tell which bucket is the
current stage when an ``account.aged`` predates the ``stage`` field, reporting to place an
(account, currency) aging never announced (aging announces changes only) in the first bucket.
They read the same file aging reads, read-only and leniently: an entry they cannot read is
skipped, since rejecting the scheme is aging's job.

Where the file is: ``<config_dir>/aging.yaml`` when the platform names a config dir holding
one, else aging's packaged ``buckets.yaml``; ``tenants.<tenant>.buckets`` overrides the
file's top-level ``buckets``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

AGING_PACKAGED = Path(__file__).resolve().parent.parent / "services" / "aging" / "config" / "buckets.yaml"

CURRENT_STAGE = "current"
"""Aging's rule: the first bucket (0 days past due) is the current one unless it names a stage."""


@dataclass(frozen=True)
class SchemeBucket:
    name: str
    stage: str


def aging_scheme_path(config_dir: Path | str | None) -> Path:
    if config_dir is not None:
        candidate = Path(config_dir) / "aging.yaml"
        if candidate.is_file():
            return candidate.resolve()
    return AGING_PACKAGED


@lru_cache(maxsize=256)
def _buckets(path: Path, mtime_ns: int, tenant: str) -> tuple[SchemeBucket, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        return ()
    override = (data.get("tenants") or {}).get(tenant) or {}
    buckets = override.get("buckets") if isinstance(override, dict) else None
    if not isinstance(buckets, list):
        buckets = data.get("buckets")
    if not isinstance(buckets, list):
        return ()
    found: list[SchemeBucket] = []
    for position, item in enumerate(buckets):
        if not isinstance(item, dict) or "name" not in item:
            continue
        default = CURRENT_STAGE if position == 0 else ""
        found.append(SchemeBucket(str(item["name"]), str(item.get("stage", default))))
    return tuple(found)


def tenant_buckets(config_dir: Path | str | None, tenant: str) -> tuple[SchemeBucket, ...]:
    """The tenant's buckets in scheme order (the file is re-read when it changes)."""
    path = aging_scheme_path(config_dir)
    return _buckets(path, path.stat().st_mtime_ns, tenant)


def first_bucket(config_dir: Path | str | None, tenant: str) -> SchemeBucket | None:
    """Where every (account, currency) starts: the scheme's first bucket (None if unreadable)."""
    buckets = tenant_buckets(config_dir, tenant)
    return buckets[0] if buckets else None
