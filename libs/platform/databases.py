"""Getting a migrated database: for the platform, the simulator and the test suite alike."""

from __future__ import annotations

import hashlib

from libs.auth.migrations.upgrade import VERSIONS as AUTH_VERSIONS
from libs.auth.migrations.upgrade import upgrade_auth
from libs.runtime.db import drop_database, ensure_database, with_database
from libs.runtime.migrations import upgrade
from libs.runtime.service import ServiceSpec


def migrate_all(specs: list[ServiceSpec], database_url: str) -> None:
    for spec in specs:
        upgrade(spec, database_url)
    upgrade_auth(database_url)  # after the services: it grants their roles what the guard needs


def migrations_fingerprint(specs: list[ServiceSpec]) -> str:
    digest = hashlib.sha256()
    for spec in specs:
        for path in sorted(spec.migrations_dir.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    for path in sorted(AUTH_VERSIONS.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def template_database(server_url: str, specs: list[ServiceSpec]) -> str:
    """A database with every migration applied, named by the migrations' hash, built once."""
    name = f"cobranza_tpl_{migrations_fingerprint(specs)}"
    ensure_database(server_url, name)
    migrate_all(specs, with_database(server_url, name))
    return name


def fresh_database(server_url: str, specs: list[ServiceSpec], name: str) -> str:
    """A new database cloned from the migrated template (fast: no migrations per copy)."""
    template = template_database(server_url, specs)
    drop_database(server_url, name)
    ensure_database(server_url, name, template=template)
    return with_database(server_url, name)
