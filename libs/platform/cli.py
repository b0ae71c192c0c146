"""The ``cobranza`` command line: one program for the platform, its services and its tools."""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from libs.platform.auth_cli import auth_app
from libs.platform.demo.cli import demo_app
from libs.platform.outbox_cli import outbox_app
from libs.platform.privacy import privacy_app
from libs.platform.registry import SERVICE_NAMES, available_specs, load_spec
from libs.runtime.settings import PlatformSettings

app = typer.Typer(help="cobranza: event-driven collections management", no_args_is_help=True)
service_app = typer.Typer(help="Run one service (API, consumer, outbox relay, timers)")
db_app = typer.Typer(help="Schemas, roles and migrations")
events_app = typer.Typer(help="Event contracts")
topics_app = typer.Typer(help="Kafka topics from the catalog")
dlq_app = typer.Typer(help="The dead-letter topic")
app.add_typer(service_app, name="service")
app.add_typer(db_app, name="db")
app.add_typer(events_app, name="events")
app.add_typer(topics_app, name="topics")
app.add_typer(dlq_app, name="dlq")
app.add_typer(outbox_app, name="outbox")
app.add_typer(demo_app, name="demo")
app.add_typer(auth_app, name="auth")
app.add_typer(privacy_app, name="privacy")


STARTS_ITS_OWN_INFRASTRUCTURE = frozenset({"up", "simulate"})


@app.callback()
def _find_platform(ctx: typer.Context) -> None:
    """Every command but ``up`` and ``simulate`` talks to the running embedded platform of the state dir
    (``<state dir>/platform.json``) when DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are not set; and runs in
    one trace when an exporter is configured (``cobranza ingest file`` events carry its traceparent)."""
    if ctx.invoked_subcommand in STARTS_ITS_OWN_INFRASTRUCTURE:
        return
    from libs.platform.state import apply_running_platform

    apply_running_platform(os.environ)
    from libs.runtime.observability import configure_tracing, trace_exporter_from_env

    settings = _settings()
    if trace_exporter_from_env(settings.otel_exporter) != "none":
        from opentelemetry import trace

        configure_tracing("cli", settings.otel_exporter)
        tracer = trace.get_tracer("cobranza.cli")
        ctx.with_resource(tracer.start_as_current_span(f"cobranza {ctx.invoked_subcommand}"))


def _settings() -> PlatformSettings:
    return PlatformSettings()


def _require(value: str | None, what: str) -> str:
    if not value:
        typer.echo(f"{what} is not set", err=True)
        raise typer.Exit(2)
    return value


@app.command()
def up(
    services: Annotated[list[str] | None, typer.Option("--service", "-s", help="only these")] = None,
) -> None:
    """Start Postgres, Kafka (embedded unless configured) and every service; Ctrl-C stops all."""
    from libs.platform.supervisor import Supervisor

    Supervisor(_settings(), services).run()


@service_app.command("run")
def service_run(
    name: str,
    port: Annotated[int | None, typer.Option()] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    fd: Annotated[
        int | None,
        typer.Option(
            help="serve on this inherited listening socket (socket activation: systemd, a process "
            "manager, replicas sharing one port) instead of binding --host/--port"
        ),
    ] = None,
) -> None:
    """Run one service against DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS."""
    from libs.runtime.worker import run_service

    run_service(load_spec(name), _settings(), host=host, port=port, fd=fd)


@service_app.command("list")
def service_list() -> None:
    for spec in available_specs():
        typer.echo(f"{spec.name:<15} :{spec.http_port}  consumes {', '.join(spec.topics) or '-'}")


@db_app.command("upgrade")
def db_upgrade(services: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Provision each service's schema and role, apply its migrations, then the ``auth`` schema's
    (API keys and the audit log every service reads), granting the services' roles and logins."""
    from libs.auth.migrations.upgrade import upgrade_auth
    from libs.runtime.migrations import upgrade

    url = _require(_settings().database_url, "DATABASE_URL")
    for spec in available_specs():
        if not services or spec.name in services:
            upgrade(spec, url)
            typer.echo(f"{spec.name}: at head")
    upgrade_auth(url)
    typer.echo("auth: at head")


@db_app.command("revision")
def db_revision(service: str, message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a migration for SERVICE from its ORM metadata."""
    from libs.runtime.migrations import revision

    revision(load_spec(service), _require(_settings().database_url, "DATABASE_URL"), message)


@topics_app.command("create")
def topics_create() -> None:
    from libs.runtime.transport.kafka import ensure_topics

    settings = _settings()
    bootstrap = _require(settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS")
    created = ensure_topics(bootstrap, prefix=settings.kafka_topic_prefix)
    typer.echo(f"created: {', '.join(created) or 'none (all present)'}")


@events_app.command("schema")
def events_schema(out: Annotated[Path, typer.Option("--out")]) -> None:
    """Write the JSON Schema of every event (envelope + data) to OUT."""
    from libs.events.schema_export import write_schemas

    for path in write_schemas(out):
        typer.echo(str(path))


@events_app.command("docs")
def events_docs(out: Annotated[Path, typer.Option("--out")] = Path("docs/events.md")) -> None:
    """Render the event catalog page for integrators from the models and topics."""
    from libs.events.catalog_doc import render

    out.write_text(render())
    typer.echo(str(out))


@app.command()
def simulate(
    events: Annotated[Path, typer.Option("--events", exists=True, dir_okay=False)],
    start: Annotated[str, typer.Option("--start", help="YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--end", help="YYYY-MM-DD, inclusive")],
    out: Annotated[Path, typer.Option("--out")],
    config: Annotated[Path | None, typer.Option("--config", exists=True, file_okay=False)] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="at most N events per handler batch (1: one by one); default: everything waiting",
        ),
    ] = None,
) -> None:
    """Run every service in one process on a simulated clock; write what they emit to OUT."""
    from libs.platform.simulator import SimulationInputError, run_simulation

    # SIGTERM unwinds like Ctrl-C, so the embedded PostgreSQL it started is stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        written = run_simulation(
            events, date.fromisoformat(start), date.fromisoformat(end), out, config, batch_size=batch_size
        )
    except (SimulationInputError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{written} events written to {out}")


@dlq_app.command("list")
def dlq_list(
    service: Annotated[str | None, typer.Option()] = None, limit: Annotated[int, typer.Option()] = 100
) -> None:
    """Print dead letters as JSON lines (reason, origin, original bytes)."""
    from libs.platform.dlq import read_dead_letters

    shown = 0
    settings = _settings()
    bootstrap = _require(settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS")
    for letter in read_dead_letters(bootstrap, settings.kafka_topic_prefix):
        if service and letter.headers.get("dlq_service") != service:
            continue
        typer.echo(json.dumps(letter.summary(), ensure_ascii=False))
        shown += 1
        if shown >= limit:
            break


@dlq_app.command("replay")
def dlq_replay(
    service: Annotated[str | None, typer.Option()] = None,
    event_id: Annotated[list[str] | None, typer.Option("--event-id")] = None,
    offset: Annotated[list[int] | None, typer.Option("--offset")] = None,
    all_: Annotated[bool, typer.Option("--all")] = False,
) -> None:
    """Send dead letters back to their original topic (after fixing the cause)."""
    from libs.platform.dlq import read_dead_letters, replay

    if not (all_ or event_id or offset or service):
        typer.echo("say which: --all, --service, --event-id or --offset", err=True)
        raise typer.Exit(2)
    settings = _settings()
    bootstrap = _require(settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS")
    chosen = [
        letter
        for letter in read_dead_letters(bootstrap, settings.kafka_topic_prefix)
        if (not service or letter.headers.get("dlq_service") == service)
        and (not event_id or letter.headers.get("dlq_event_id") in event_id)
        and (not offset or letter.offset in offset)
    ]
    typer.echo(f"replayed {replay(bootstrap, chosen, settings.kafka_topic_prefix)} dead letters")


def _register_service_commands() -> None:
    """Services contribute their own commands (``cobranza ingest file``, ``cobranza segments preview``)."""
    for name in SERVICE_NAMES:
        try:
            module = importlib.import_module(f"services.{name}.entrypoints.cli")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"services.{name}"):
                continue
            raise
        module.register(app)


_register_service_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
