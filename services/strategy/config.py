"""Where strategy's rule files come from: the platform's config dir, else the packaged defaults.

* ``strategy.yaml`` (playbooks, contact policy): strategy's own, ``config/playbooks.yaml`` by default.
* ``aging.yaml`` (bucket scheme): aging's file, read here only to know which bucket is a tenant's
  *current* stage when an ``account.aged`` event predates the ``stage`` field.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from services.strategy.domain.cure import CURRENT_STAGE
from services.strategy.domain.playbooks import StrategyConfig, parse_config

PACKAGED = Path(__file__).parent / "config" / "playbooks.yaml"
AGING_PACKAGED = Path(__file__).resolve().parent.parent / "aging" / "config" / "buckets.yaml"


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


def _aging_path(extras: Mapping[str, Any]) -> Path:
    config_dir = extras.get("config_dir")
    if config_dir is not None:
        candidate = Path(config_dir) / "aging.yaml"
        if candidate.is_file():
            return candidate.resolve()
    return AGING_PACKAGED


@lru_cache(maxsize=256)
def _stages(path: Path, mtime_ns: int, tenant: str) -> Mapping[str, str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        return {}
    override = (data.get("tenants") or {}).get(tenant) or {}
    buckets = override.get("buckets") if isinstance(override, dict) else None
    if not isinstance(buckets, list):
        buckets = data.get("buckets")
    if not isinstance(buckets, list):
        return {}
    stages: dict[str, str] = {}
    for position, item in enumerate(buckets):
        if not isinstance(item, dict) or "name" not in item:
            continue  # aging validates its own scheme; strategy only reads the names it can
        # aging's rule: the first bucket (0 days past due) is the current one
        default = CURRENT_STAGE if position == 0 else ""
        stages[str(item["name"])] = str(item.get("stage", default))
    return stages


def bucket_stages(extras: Mapping[str, Any], tenant: str) -> Mapping[str, str]:
    """Bucket name -> stage in the tenant's scheme (``tenants.<tenant>.buckets`` overrides the default)."""
    path = _aging_path(extras)
    return _stages(path, path.stat().st_mtime_ns, tenant)
