"""Postgres access for a service: its own schema, owner role and login, provisioned and migrated.

Roles, per service ``svc``:

- ``cobranza_<svc>`` (NOLOGIN) owns schema ``svc``; migrations run as it (the migrator login is a
  member and does ``SET ROLE``). Creating it needs CREATEROLE on the migrator (``DATABASE_URL``).
- ``cobranza_<svc>_login`` (LOGIN, NOINHERIT) is what the service connects as when
  ``COBRANZA_<SVC>_DATABASE_URL`` is set: SELECT/INSERT/UPDATE/DELETE on its own schema's tables
  and sequences (granted here and by default privileges for tables migrations add later), SELECT
  on ``auth.api_keys`` and INSERT/SELECT on ``auth.audit_log``, nothing else. It is never a member
  of an owner role, so ``RESET ROLE`` or ``SET ROLE`` gives it nothing more.

Without a per-service URL a service shares the migrator login and runs ``SET ROLE cobranza_<svc>``:
ownership is still kept by the database against mistakes, but not against ``RESET ROLE``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from libs.runtime.settings import sqlalchemy_url

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def role_name(service: str) -> str:
    return f"cobranza_{service}"


def login_name(service: str) -> str:
    return f"cobranza_{service}_login"


def service_url_variable(service: str) -> str:
    return f"COBRANZA_{service.upper()}_DATABASE_URL"


def service_database_url(service: str) -> str | None:
    """The service's own login DSN (``COBRANZA_<SVC>_DATABASE_URL``), if the deployment gives one."""
    return os.environ.get(service_url_variable(_check(service))) or None


def _check(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid schema/role name {name!r}")
    return name


CUSTOM_PLANS = "-c plan_cache_mode=force_custom_plan"
"""Every statement planned for its own parameters. psycopg prepares a statement run five times, and
PostgreSQL may then switch to one generic plan: for a batch statement whose arrays hold 1 or 5,000
ids, planned on statistics from when the table was small (autovacuum analyses once a minute at
most), that plan scanned the whole table: 5 ms custom vs ~1 s generic for segmentation's payments
read of 500 accounts in 20,000 rows, which bounded the end-to-end rate at 10,000 accounts.
Planning a batch statement costs a fraction of a millisecond."""


def make_engine(
    url: str,
    *,
    service: str | None = None,
    pool_size: int = 5,
    app: str = "cobranza",
    owner: bool = False,
    pre_ping: bool = True,
) -> Engine:
    """An engine for ``service``: its own login when ``COBRANZA_<SVC>_DATABASE_URL`` is set (and
    ``owner`` is false), else ``url`` with ``SET ROLE cobranza_<svc>`` (migrations pass ``owner``).
    ``pre_ping`` checks a pooled connection before use (a server restarted under a long-running
    service); the simulator, whose database lives as long as its process, turns it off."""
    own = service_database_url(service) if service is not None and not owner else None
    engine = create_engine(
        sqlalchemy_url(own or url),
        pool_pre_ping=pre_ping,
        hide_parameters=True,  # bound values are personal data: never in logs or errors
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"application_name": f"{app}-{service or 'admin'}", "options": CUSTOM_PLANS},
    )
    if service is not None:
        schema = _check(service)
        role = role_name(schema)

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            with dbapi_conn.cursor() as cur:
                if own is None:
                    cur.execute(f'SET ROLE "{role}"')
                cur.execute(f'SET search_path TO "{schema}", public')
            dbapi_conn.commit()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def migration_lock(admin: Engine, schema: str) -> Iterator[None]:
    """Serialise provisioning and migrating one schema across processes: replicas' init containers
    (Kubernetes) or compose's ``migrate`` run ``cobranza db upgrade`` at the same time, and
    ``CREATE ROLE`` / Alembic's DDL race otherwise. A session-level advisory lock on its own
    connection, held until the block ends (released by PostgreSQL if the process dies)."""
    with admin.connect() as conn:
        key = {"k": f"cobranza.migrate.{_check(schema)}"}
        conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), key)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), key)
            conn.commit()


def provision_service(admin: Engine, service: str) -> None:
    """Create the service's role and schema (idempotent). Needs CREATEROLE on the admin login."""
    schema = _check(service)
    role = role_name(schema)
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('cobranza.provision'))"))
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if not exists:
            conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        conn.execute(text(f'GRANT "{role}" TO CURRENT_USER'))
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        if conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login_name(schema)}
        ).scalar():
            _grant_login(conn, schema)


_DML = "SELECT, INSERT, UPDATE, DELETE"


def _grant_login(conn: Connection, service: str) -> None:
    """What the login may do: DML on its own schema (now and for tables migrations add), the guard's
    part of ``auth`` if that schema exists. Idempotent."""
    schema, owner, login = service, role_name(service), login_name(service)
    conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{login}"'))
    conn.execute(text(f'GRANT {_DML} ON ALL TABLES IN SCHEMA "{schema}" TO "{login}"'))
    conn.execute(text(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{login}"'))
    conn.execute(
        text(
            f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}" GRANT {_DML} ON TABLES TO "{login}"'
        )
    )
    conn.execute(
        text(
            f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}" '
            f'GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "{login}"'
        )
    )
    if conn.execute(text("SELECT to_regclass('auth.api_keys') IS NOT NULL")).scalar():
        conn.execute(text(f'GRANT USAGE ON SCHEMA auth TO "{login}"'))
        conn.execute(text(f'GRANT SELECT, UPDATE (last_used_at) ON auth.api_keys TO "{login}"'))
    if conn.execute(text("SELECT to_regclass('auth.audit_log') IS NOT NULL")).scalar():
        conn.execute(text(f'GRANT SELECT, INSERT ON auth.audit_log TO "{login}"'))
        conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA auth TO "{login}"'))


def grant_existing_login(admin: Engine, service: str) -> None:
    """Re-grant the service's login if it exists (after ``auth``'s tables appear, for instance)."""
    schema = _check(service)
    with admin.begin() as conn:
        if conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login_name(schema)}
        ).scalar():
            _grant_login(conn, schema)


def provision_login(admin: Engine, service: str, password: str) -> None:
    """Create (or re-password) the service's login role and grant it its schema. Needs CREATEROLE
    and membership in the owner role (what ``provision_service`` gives the migrator)."""
    schema = _check(service)
    login = login_name(schema)
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('cobranza.provision'))"))
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login}).scalar()
        verb = "ALTER" if exists else "CREATE"
        options = "LOGIN NOINHERIT NOCREATEDB NOCREATEROLE"
        quoted = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        conn.execute(text(f'{verb} ROLE "{login}" WITH {options} PASSWORD {quoted}'))
        _grant_login(conn, schema)


def ensure_database(admin_url: str, name: str, template: str | None = None) -> None:
    """CREATE DATABASE if missing (autocommit: it cannot run in a transaction)."""
    _check(name)
    engine = create_engine(sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT", hide_parameters=True)
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
                return
            suffix = f' TEMPLATE "{_check(template)}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    finally:
        engine.dispose()


def drop_database(admin_url: str, name: str) -> None:
    _check(name)
    engine = create_engine(sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT", hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def with_database(url: str, name: str) -> str:
    """The same server URL pointed at another database (keeps query options such as ``host=``)."""
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url(url)).set(database=name).render_as_string(hide_password=False)
