"""Reconciliation's settings (env prefix ``COBRANZA_RECONCILIATION_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class ReconciliationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COBRANZA_RECONCILIATION_", extra="ignore")

    tolerances_file: Path | None = None
    """A YAML file of the same shape as config/tolerances.yaml, merged over it."""
