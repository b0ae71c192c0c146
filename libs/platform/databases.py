"""Getting a migrated database: for the platform, the simulator and the test suite alike."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from libs.auth.migrations.upgrade import VERSIONS as AUTH_VERSIONS
from libs.auth.migrations.upgrade import upgrade_auth
from libs.runtime.db import (
    drop_database,
    ensure_database,
    grant_existing_login,
    login_name,
    make_engine,
    provision_login,
    service_url_variable,
    with_database,
)
from libs.runtime.migrations import upgrade
from libs.runtime.service import ServiceSpec


def migrate_all(specs: list[ServiceSpec], database_url: str) -> None:
    for spec in specs:
        upgrade(spec, database_url)
    upgrade_auth(database_url)  # after the services: it grants their roles what the guard needs
    admin = make_engine(database_url, pool_size=1)
    try:
        for spec in specs:  # the logins too, now that auth's tables exist
            grant_existing_login(admin, spec.name)
    finally:
        admin.dispose()


LOGINS_FILE = "db-logins.json"


def service_logins(state_dir: Path, database_url: str, services: list[str]) -> dict[str, str]:
    """Each service's own login on the migrated database ``database_url``: the roles are created
    (or re-passworded) with passwords generated once and kept in ``<state dir>/db-logins.json``
    (mode 0600). Returns ``{COBRANZA_<SVC>_DATABASE_URL: dsn}`` for the services' environment.

    Needs what ``cobranza db upgrade`` needs on ``database_url``: CREATEROLE and membership in the
    owner roles (the embedded superuser has both).
    """
    from sqlalchemy.engine import make_url

    path = state_dir / LOGINS_FILE
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    passwords = {svc: stored.get(svc) or secrets.token_urlsafe(24) for svc in services}
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({**stored, **passwords}, out, indent=2, sort_keys=True)
    os.chmod(path, 0o600)
    admin = make_engine(database_url, pool_size=1)
    try:
        for svc, password in passwords.items():
            provision_login(admin, svc, password)
    finally:
        admin.dispose()
    base = make_url(database_url)
    return {
        service_url_variable(svc): base.set(username=login_name(svc), password=password).render_as_string(
            hide_password=False
        )
        for svc, password in passwords.items()
    }


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
