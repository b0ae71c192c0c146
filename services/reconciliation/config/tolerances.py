"""Loading the tolerance table: shipped YAML < settings file < simulator config dir."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from services.reconciliation.config.settings import ReconciliationSettings
from services.reconciliation.domain.tolerances import ToleranceTable, parse_tolerances

SHIPPED = Path(__file__).parent / "tolerances.yaml"
SIMULATOR_FILE = "reconciliation.yaml"


@lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int) -> ToleranceTable:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, Mapping) and "tolerances" in raw:
        raw = raw["tolerances"]
    return parse_tolerances(raw, source=str(path))


def read_table(path: Path) -> ToleranceTable:
    return _read(path, path.stat().st_mtime_ns)


_PREFIX = ReconciliationSettings.model_config.get("env_prefix") or ""


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(_PREFIX)))


@lru_cache(maxsize=8)
def _settings(environment: tuple[tuple[str, str], ...]) -> ReconciliationSettings:
    """The settings for this environment: read once per batch cost ~5 ms, so once per distinct one."""
    return ReconciliationSettings()


def load_tolerances(
    extras: Mapping[str, Any], settings: ReconciliationSettings | None = None
) -> ToleranceTable:
    """The effective table for a running service (files are re-read only when they change)."""
    settings = settings or _settings(_environment())
    table = read_table(SHIPPED)
    layers: list[Path] = []
    if settings.tolerances_file is not None:
        layers.append(settings.tolerances_file)
    config_dir = extras.get("config_dir")
    if config_dir is not None and (Path(config_dir) / SIMULATOR_FILE).is_file():
        layers.append(Path(config_dir) / SIMULATOR_FILE)
    for path in layers:
        table = table.merged(read_table(path))
    return table
