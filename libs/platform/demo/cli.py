"""``cobranza demo generate`` and ``cobranza demo load``: a realistic portfolio, and feeding it to a platform."""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

demo_app = typer.Typer(help="A realistic demo portfolio: generate it, load it into a running platform")


@demo_app.command("generate")
def generate_command(
    accounts: Annotated[
        int, typer.Option("--accounts", min=1, help="how many accounts (policies and loans)")
    ],
    months: Annotated[int, typer.Option("--months", min=1, max=120, help="how many calendar months")] = 12,
    seed: Annotated[int, typer.Option("--seed", help="same seed, same bytes")] = 1,
    start: Annotated[str, typer.Option("--start", help="YYYY-MM-DD, first day of the period")] = "2026-01-01",
    tenant: Annotated[str, typer.Option("--tenant", min=1, max=64)] = "default",
    out: Annotated[Path | None, typer.Option("--out", help="write here instead of stdout")] = None,
    buffer_lines: Annotated[
        int, typer.Option("--buffer", min=1000, help="events sorted in memory at once")
    ] = 100_000,
    tmp_dir: Annotated[
        Path | None, typer.Option("--tmp-dir", file_okay=False, help="for sorted runs")
    ] = None,
) -> None:
    """Write the portfolio as CloudEvents JSON lines in time order (the format ``cobranza simulate --events`` reads)."""
    from libs.platform.demo.portfolio import DemoSpec
    from libs.platform.demo.stream import generate, peak_rss_mb

    try:
        spec = DemoSpec(
            accounts=accounts, months=months, seed=seed, start=date.fromisoformat(start), tenant=tenant
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    began = time.monotonic()
    if out is None:
        stats = generate(spec, sys.stdout, buffer_lines=buffer_lines, tmp_dir=tmp_dir)
    else:
        with out.open("w", encoding="utf-8") as handle:
            stats = generate(spec, handle, buffer_lines=buffer_lines, tmp_dir=tmp_dir)
    typer.echo(
        f"{stats.events} events, {stats.customers} customers, {accounts} accounts, {months} months "
        f"from {spec.start} in {time.monotonic() - began:.1f} s (peak RSS {peak_rss_mb():.0f} MiB)",
        err=True,
    )


@demo_app.command("load")
def load_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a portfolio from demo generate")],
    url: Annotated[str, typer.Option("--url", help="ingest's base URL")] = "http://127.0.0.1:8001",
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="items per bulk request")] = 500,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="parallel single requests")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds per request")] = 120.0,
    kafka: Annotated[
        str | None,
        typer.Option(
            "--kafka", help="bootstrap servers for the inbound topic (default KAFKA_BOOTSTRAP_SERVERS)"
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="credential (default COBRANZA_API_KEY, else <state dir>/admin.key of `cobranza up`)",
        ),
    ] = None,
) -> None:
    """Feed FILE to a running platform through ingest (REST bulk API; promises via the Kafka inbound topic)."""
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from libs.platform.demo.load import Loader, load_file
    from libs.runtime.settings import PlatformSettings
    from libs.runtime.transport.base import Publisher

    errors = Console(stderr=True)
    settings = PlatformSettings()
    publisher: Publisher | None = None
    bootstrap = kafka or settings.kafka_bootstrap_servers
    if bootstrap:
        from libs.runtime.transport.kafka import KafkaPublisher

        publisher = KafkaPublisher(bootstrap, "cobranza-demo-load", topic_prefix=settings.kafka_topic_prefix)
    progress = Progress(
        TextColumn("[bold]loading[/bold] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[tally]}"),
        TimeElapsedColumn(),
        console=errors,
        disable=not errors.is_terminal,
    )
    from libs.platform.auth_cli import read_api_key

    key = read_api_key(api_key, settings)
    if key is None:
        typer.echo("no credential: pass --api-key, set COBRANZA_API_KEY, or start `cobranza up`", err=True)
        raise typer.Exit(2)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=timeout, headers=auth) as client, progress:
        task = progress.add_task(file.name, total=file.stat().st_size, tally="")
        loader = Loader(
            client,
            batch=batch,
            workers=workers,
            publisher=publisher,
            on_reject=lambda reject: progress.console.print(
                str(reject), style="red", markup=False, highlight=False
            ),
        )

        unreported = 0

        def advance(size: int) -> None:
            """Redraw every 256 KiB read: a per-line update would cost more than parsing the line."""
            nonlocal unreported
            unreported += size
            if unreported < 1 << 18:
                return
            totals = loader.summary.totals
            progress.update(
                task,
                advance=unreported,
                tally=f"{totals.accepted} accepted, {totals.duplicate} duplicate, {totals.rejected} rejected",
            )
            unreported = 0

        summary = load_file(file, loader, advance)
        totals = summary.totals
        progress.update(
            task,
            advance=unreported,
            tally=f"{totals.accepted} accepted, {totals.duplicate} duplicate, {totals.rejected} rejected",
        )
    for event_type, counts in sorted(summary.by_type.items()):
        typer.echo(
            f"{event_type:<32} accepted {counts.accepted:>9}  duplicate {counts.duplicate:>9}  "
            f"rejected {counts.rejected:>9}"
        )
    totals = summary.totals
    typer.echo(
        f"{summary.lines} lines: accepted {totals.accepted}, duplicate {totals.duplicate}, rejected {totals.rejected}"
    )
    if totals.rejected:
        raise typer.Exit(1)
