"""Where aging's bucket scheme comes from: ``aging.yaml`` in the platform's config dir, else the default."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from libs.bucket_scheme import AGING_PACKAGED, aging_scheme_path
from services.aging.domain.rules import BucketScheme, SchemeError

DEFAULT_CONFIG = AGING_PACKAGED
"""The packaged scheme; where a platform's own ``aging.yaml`` overrides it is one rule, shared with the
services that read aging's bucket names (``libs.bucket_scheme.aging_scheme_path``)."""


@lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int) -> Mapping[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, Mapping):
        raise SchemeError(f"{path}: a mapping is required")
    return data


@lru_cache(maxsize=256)
def _scheme(path: Path, mtime_ns: int, tenant: str) -> BucketScheme:
    data = dict(_load(path, mtime_ns))
    override = (data.get("tenants") or {}).get(tenant) or {}
    merged = {
        "buckets": override.get("buckets", data.get("buckets")),
        "grace_days": override.get("grace_days", data.get("grace_days")),
    }
    try:
        return BucketScheme.from_mapping(merged)
    except SchemeError as exc:
        raise SchemeError(f"{path} (tenant {tenant}): {exc}") from exc


def load_scheme(config_dir: Path | str | None, tenant: str = "default") -> BucketScheme:
    """The tenant's scheme: ``tenants.<tenant>`` keys override the file's top-level ones."""
    path = aging_scheme_path(config_dir)
    return _scheme(path, path.stat().st_mtime_ns, tenant)


def scheme_for(extras: Mapping[str, Any], tenant: str) -> BucketScheme:
    return load_scheme(extras.get("config_dir"), tenant)
