"""The ``auth`` schema's migrations, run like a service's (its own role and schema, Alembic head)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from libs.auth.orm import SCHEMA, metadata
from libs.runtime.db import grant_existing_login, make_engine, migration_lock, provision_service, role_name
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
    what the guard needs: read keys, stamp ``last_used_at``, append (never change) audit rows; and
    the services' own logins too (compose, Kubernetes), so the first ``cobranza auth key create``
    after ``cobranza db upgrade`` leaves every service able to check keys without a second upgrade."""
    admin = make_engine(database_url, pool_size=2)
    try:
        with migration_lock(admin, SCHEMA):
            provision_service(admin, SCHEMA)
            _migrate(database_url, revision)
        with admin.connect() as conn:
            migrated = conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:names)"), {"names": list(READERS)}
            ).scalars()
            services = list(migrated)
        for service in services:
            grant_existing_login(admin, service)
    finally:
        admin.dispose()


def _migrate(database_url: str, revision: str) -> None:
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
