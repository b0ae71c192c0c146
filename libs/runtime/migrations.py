"""Alembic, driven programmatically per service: provision role and schema, then upgrade head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from libs.runtime.db import make_engine, migration_lock, provision_service
from libs.runtime.service import ServiceSpec

ENV_DIR = Path(__file__).parent / "alembic"


def alembic_config(spec: ServiceSpec) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ENV_DIR))
    cfg.set_main_option("version_locations", str(spec.migrations_dir))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["metadata"] = spec.metadata
    cfg.attributes["schema"] = spec.name
    return cfg


def upgrade(spec: ServiceSpec, database_url: str, revision: str = "head") -> None:
    admin = make_engine(database_url, pool_size=2)
    try:
        with migration_lock(admin, spec.name):
            provision_service(admin, spec.name)
            engine = make_engine(database_url, service=spec.name, pool_size=1, owner=True)
            try:
                _run(spec, engine, lambda cfg: command.upgrade(cfg, revision))
            finally:
                engine.dispose()
    finally:
        admin.dispose()


def revision(spec: ServiceSpec, database_url: str, message: str) -> None:
    """Autogenerate a migration from the service's metadata against an up-to-date database."""
    upgrade(spec, database_url)
    spec.migrations_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url, service=spec.name, pool_size=1, owner=True)
    try:
        _run(spec, engine, lambda cfg: command.revision(cfg, message=message, autogenerate=True))
    finally:
        engine.dispose()


def _run(spec: ServiceSpec, engine: Engine, action) -> None:  # type: ignore[no-untyped-def]
    cfg = alembic_config(spec)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        action(cfg)


__all__ = ["alembic_config", "revision", "upgrade"]
