"""The ``auth`` schema's migrations, run like a service's (its own role and schema, Alembic head)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from libs.auth.orm import SCHEMA, metadata
from libs.runtime.db import make_engine, provision_service, role_name
from libs.runtime.migrations import ENV_DIR

VERSIONS = Path(__file__).parent / "versions"
READERS = ("ingest", "reconciliation", "aging", "segmentation", "strategy", "notifier", "reporting")
"""Service roles that check keys and append audit rows when a service connects as its own role."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ENV_DIR))
    cfg.set_main_option("version_locations", str(VERSIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["metadata"] = metadata
    cfg.attributes["schema"] = SCHEMA
    return cfg


def upgrade_auth(database_url: str, revision: str = "head") -> None:
    """Provision the ``auth`` schema and role, migrate it, and grant the service roles that exist
    what the guard needs: read keys, stamp ``last_used_at``, append (never change) audit rows."""
    admin = make_engine(database_url, pool_size=1)
    try:
        provision_service(admin, SCHEMA)
    finally:
        admin.dispose()
    engine = make_engine(database_url, service=SCHEMA, pool_size=1)
    try:
        cfg = alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            roles = connection.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
                {"names": [role_name(s) for s in READERS]},
            ).scalars()
            for role in roles:
                connection.execute(text(f'GRANT USAGE ON SCHEMA auth TO "{role}"'))
                connection.execute(text(f'GRANT SELECT, UPDATE (last_used_at) ON auth.api_keys TO "{role}"'))
                connection.execute(text(f'GRANT SELECT, INSERT ON auth.audit_log TO "{role}"'))
    finally:
        engine.dispose()
