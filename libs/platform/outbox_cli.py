"""``cobranza outbox parked`` / ``cobranza outbox unpark``: the outbox rows the relay gave up on.

A row the broker refused ``COBRANZA_RELAY_MAX_ATTEMPTS`` times is *parked* (``libs.runtime.relay``):
left unpublished with its last error, counted by ``cobranza_outbox_parked`` (alert
``CobranzaOutboxRowsParked``), skipped by later rounds. ``parked`` lists them as JSON lines (service,
id, type, topic, attempts, last error with the values PostgreSQL or a broker may echo redacted);
after fixing the cause, ``unpark`` gives them (``--id``, or ``--all``) a fresh set of attempts and
the relay sends them on its next round, in id order. Each service's outbox is read through that
service's own engine (its login, else its role), on ``DATABASE_URL`` or the running embedded
platform of the state dir. Run it with the services' ``COBRANZA_RELAY_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from libs.platform.registry import SERVICE_NAMES, load_spec
from libs.runtime.settings import PlatformSettings

if TYPE_CHECKING:  # the runtime is imported when a command runs, not when the CLI starts
    from libs.runtime.relay import OutboxRelay
    from libs.runtime.transport.base import OutgoingRecord

outbox_app = typer.Typer(help="Outbox rows parked by the relay: list them, give them back to the relay")

ServiceOption = Annotated[str | None, typer.Option("--service", "-s", help="one service (default: all)")]


class _ListsOnly:
    """The relay object is used for its parked-row queries only: nothing is published from here."""

    def publish(self, records: list[OutgoingRecord]) -> list[str | None]:
        raise RuntimeError("cobranza outbox does not publish: the services' relays do")


def _services(service: str | None) -> list[str]:
    if service is None:
        return list(SERVICE_NAMES)
    if service not in SERVICE_NAMES:
        typer.echo(f"unknown service {service!r} (one of: {', '.join(SERVICE_NAMES)})", err=True)
        raise typer.Exit(2)
    return [service]


@contextmanager
def _relay(name: str, settings: PlatformSettings) -> Iterator[OutboxRelay]:
    from libs.runtime.context import ServiceContext
    from libs.runtime.relay import OutboxRelay

    if not settings.database_url:
        typer.echo("DATABASE_URL is not set (and no running platform in the state dir)", err=True)
        raise typer.Exit(2)
    ctx = ServiceContext.create(load_spec(name), settings.database_url, settings=settings, pool_size=1)
    try:
        yield OutboxRelay(ctx, _ListsOnly())
    finally:
        ctx.dispose()


def parked_rows(name: str, settings: PlatformSettings, limit: int) -> list[dict[str, Any]]:
    """SERVICE's parked rows, oldest first, as the CLI prints them (the last error redacted)."""
    from libs.runtime.redaction import redact

    with _relay(name, settings) as relay:
        rows = relay.parked(limit)
    return [
        {
            "service": name,
            "id": row["id"],
            "type": row["event_type"],
            "topic": row["topic"],
            "attempts": row["attempts"],
            "last_error": redact(row["last_error"]) if row["last_error"] else None,
        }
        for row in rows
    ]


@outbox_app.command("parked")
def parked(
    service: ServiceOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="rows per service")] = 100,
) -> None:
    """Print parked outbox rows as JSON lines: service, id, type, topic, attempts, last error."""
    from sqlalchemy.exc import DBAPIError

    settings = PlatformSettings()
    failed = False
    for name in _services(service):
        try:
            rows = parked_rows(name, settings, limit)
        except DBAPIError as exc:  # a service this database does not hold (not migrated)
            typer.echo(f"{name}: outbox not reachable ({exc.orig.__class__.__name__})", err=True)
            failed = True
            continue
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    if failed and service is not None:
        raise typer.Exit(1)


@outbox_app.command("unpark")
def unpark(
    service: ServiceOption = None,
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="a parked row's id (repeatable; needs --service)")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="every parked row (of --service, else of every service)")
    ] = False,
) -> None:
    """Give parked rows a fresh set of attempts: the relay publishes them on its next round."""
    if bool(ids) == all_:
        typer.echo("say which: --id ID (with --service) or --all", err=True)
        raise typer.Exit(2)
    if ids and service is None:
        typer.echo("--id needs --service: row ids are per service outbox", err=True)
        raise typer.Exit(2)
    from sqlalchemy.exc import DBAPIError

    settings = PlatformSettings()
    total = 0
    failed = False
    for name in _services(service):
        try:
            with _relay(name, settings) as relay:
                count = relay.unpark(list(ids) if ids else None)
        except DBAPIError as exc:  # a service this database does not hold (not migrated)
            typer.echo(f"{name}: outbox not reachable ({exc.orig.__class__.__name__})", err=True)
            failed = True
            continue
        if count or service is not None:
            typer.echo(f"{name}: {count} outbox rows unparked")
        total += count
    typer.echo(f"unparked {total} outbox rows")
    if failed and service is not None:
        raise typer.Exit(1)
