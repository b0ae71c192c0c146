"""Postgres access for a service: its own schema and role, provisioned and migrated.

Every connection a service opens runs ``SET ROLE cobranza_<service>`` so that,
even when all services share one login (the embedded default), a service can
only touch its own schema: data ownership is enforced by the database.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from libs.runtime.settings import sqlalchemy_url

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def role_name(service: str) -> str:
    return f"cobranza_{service}"


def _check(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid schema/role name {name!r}")
    return name


def make_engine(url: str, *, service: str | None = None, pool_size: int = 5, app: str = "cobranza") -> Engine:
    engine = create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        hide_parameters=True,  # bound values are personal data: never in logs or errors
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"application_name": f"{app}-{service or 'admin'}"},
    )
    if service is not None:
        schema = _check(service)
        role = role_name(schema)

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            with dbapi_conn.cursor() as cur:
                cur.execute(f'SET ROLE "{role}"')
                cur.execute(f'SET search_path TO "{schema}", public')
            dbapi_conn.commit()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


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
