"""Where strategy's rule files come from: the platform's config dir, else the packaged defaults.

* ``strategy.yaml`` (playbooks, contact policy): strategy's own, ``config/playbooks.yaml`` by default.
* ``policies.yaml`` (contact policy presets per country, per tenant overrides): strategy's own,
  ``config/policies.yaml`` by default.
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
from services.strategy.domain.contact_policy import PRESETS, ContactPolicy, with_overrides
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


POLICIES = Path(__file__).parent / "config" / "policies.yaml"


@lru_cache(maxsize=8)
def load_policies_file(path: Path) -> Mapping[str, Any]:
    """``policies.yaml`` parsed and checked: every preset and tenant override valid, or ``ValueError``."""
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw, dict) or set(raw) - {"presets", "tenants"}:
        raise ValueError(f"{path}: only 'presets' and 'tenants' at the top")
    presets = raw.get("presets") or {}
    tenants = raw.get("tenants") or {}
    if not isinstance(presets, dict) or not isinstance(tenants, dict):
        raise ValueError(f"{path}: 'presets' and 'tenants' are mappings")
    for where, overrides in [
        *((f"presets.{k}", v) for k, v in presets.items()),
        *((f"tenants.{t}.{k}", v) for t, per in tenants.items() for k, v in (per or {}).items()),
    ]:
        with_overrides(PRESETS["default"], overrides or {}, where)
    return raw


def _policies_path(extras: Mapping[str, Any]) -> Path:
    config_dir = extras.get("config_dir")
    if config_dir is not None:
        candidate = Path(config_dir) / "policies.yaml"
        if candidate.is_file():
            return candidate.resolve()
    return POLICIES


def contact_policies(
    extras: Mapping[str, Any], tenant: str, house: ContactPolicy
) -> Mapping[str, ContactPolicy]:
    """The tenant's presets by country (``CO``, ``US``, ``default``): the packaged presets, ``house``
    (strategy.yaml's ``policy:``) for Colombia's caps, then ``policies.yaml``'s overrides."""
    raw = load_policies_file(_policies_path(extras))
    presets = dict(PRESETS)
    presets["CO"] = house
    for layer, where in (
        (raw.get("presets") or {}, "presets"),
        ((raw.get("tenants") or {}).get(tenant) or {}, f"tenants.{tenant}"),
    ):
        for name, overrides in layer.items():
            base = presets.get(name, presets["default"])
            presets[name] = with_overrides(base, overrides or {}, f"{where}.{name}")
    return presets
