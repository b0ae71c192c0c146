"""Where strategy's rule files come from: the platform's config dir, else the packaged defaults.

* ``strategy.yaml`` (playbooks, contact policy): strategy's own, ``config/playbooks.yaml`` by default.
* ``aging.yaml`` (bucket scheme): aging's file, read through ``libs/bucket_scheme.py`` (shared with
  reporting) only to know which bucket is a tenant's *current* stage when an ``account.aged`` event
  predates the ``stage`` field.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from libs.bucket_scheme import SchemeBucket, tenant_buckets
from services.strategy.domain.playbooks import StrategyConfig, parse_config

PACKAGED = Path(__file__).parent / "config" / "playbooks.yaml"


@lru_cache(maxsize=8)
def load_config_file(path: Path) -> StrategyConfig:
    with path.open(encoding="utf-8") as handle:
        return parse_config(yaml.safe_load(handle))


def strategy_config(extras: Mapping[str, Any]) -> StrategyConfig:
    """``<config_dir>/strategy.yaml`` when the context names a config dir holding one."""
    config_dir = extras.get("config_dir")
    if config_dir is not None:
        candidate = Path(config_dir) / "strategy.yaml"
        if candidate.is_file():
            return load_config_file(candidate.resolve())
    return load_config_file(PACKAGED)


def bucket_stages(extras: Mapping[str, Any], tenant: str) -> Mapping[str, str]:
    """Bucket name -> stage in the tenant's scheme (``tenants.<tenant>.buckets`` overrides the default)."""
    return _stages(tenant_buckets(extras.get("config_dir"), tenant))


@lru_cache(maxsize=256)
def _stages(buckets: tuple[SchemeBucket, ...]) -> Mapping[str, str]:
    return {bucket.name: bucket.stage for bucket in buckets}
