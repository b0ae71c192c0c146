"""Where strategy's playbooks come from: the simulator's config dir, else the packaged YAML."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from services.strategy.domain.playbooks import StrategyConfig, parse_config

PACKAGED = Path(__file__).parent / "config" / "playbooks.yaml"


@lru_cache(maxsize=8)
def load_config_file(path: Path) -> StrategyConfig:
    with path.open(encoding="utf-8") as handle:
        return parse_config(yaml.safe_load(handle))


def strategy_config(extras: dict[str, Any]) -> StrategyConfig:
    """``<config_dir>/strategy.yaml`` when the context names a config dir holding one."""
    config_dir = extras.get("config_dir")
    if config_dir is not None:
        candidate = Path(config_dir) / "strategy.yaml"
        if candidate.is_file():
            return load_config_file(candidate.resolve())
    return load_config_file(PACKAGED)
