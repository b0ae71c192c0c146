"""``cobranza ingest file PATH --source NAME``: import a CSV/xlsx file or a bank statement
(camt.052/053/054, MT940).

Runs against DATABASE_URL directly: each chunk of rows commits with its events in
ingest's outbox, and the running ingest service's relay publishes them. Exit code 3 when
a row needs a person (a statement's fees and outgoing debits are reported, not counted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from libs.runtime.context import ServiceContext
from libs.runtime.settings import PlatformSettings
from services.ingest.domain.mapping import load_mapping, load_mapping_file
from services.ingest.service_layer.files import FileRejected, ImportSummary, KindChoice, import_file


def register(app: typer.Typer) -> None:
    ingest_app = typer.Typer(help="Bring invoices and payments in from files")
    app.add_typer(ingest_app, name="ingest")

    @ingest_app.command("file")
    def file(
        path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
        source: Annotated[str, typer.Option(help="source system: selects mappings/<source>.yaml")],
        kind: Annotated[str, typer.Option(help="invoices | payments | auto")] = "auto",
        report: Annotated[Path | None, typer.Option(help="write the per-row report (CSV) here")] = None,
        mapping: Annotated[Path | None, typer.Option(help="a mapping file instead of the source's")] = None,
        chunk_size: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
        tenant: Annotated[
            str | None, typer.Option(help="the tenant to import into (default: the platform setting)")
        ] = None,
    ) -> None:
        """Import PATH; every row is reported accepted, duplicate or rejected (every error, with its field path)."""
        if kind not in ("invoices", "payments", "auto"):
            typer.echo("--kind must be invoices, payments or auto", err=True)
            raise typer.Exit(2)
        settings = PlatformSettings()
        if not settings.database_url:
            typer.echo("DATABASE_URL is not set", err=True)
            raise typer.Exit(2)
        from services.ingest.service import SPEC

        chosen = load_mapping_file(mapping, source=source) if mapping else load_mapping(source)
        ctx = ServiceContext.create(SPEC, settings.database_url, settings=settings, pool_size=1)
        out = report.open("w", newline="", encoding="utf-8") if report else None

        def progress(s: ImportSummary) -> None:
            rate = s.rows / s.seconds if s.seconds else 0.0
            typer.echo(
                f"{s.rows:>10,} rows  accepted {s.accepted:,}  duplicate {s.duplicate:,}  "
                f"rejected {s.rejected:,}  ({rate:,.0f} rows/s)",
                err=True,
            )

        try:
            summary = import_file(
                ctx,
                path,
                source=source,
                kind=_kind(kind),
                mapping=chosen,
                report=out,
                chunk_size=chunk_size,
                progress=progress,
                tenant=tenant,
            )
        except FileRejected as exc:
            typer.echo(f"{path.name}: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            if out is not None:
                out.close()
            ctx.dispose()
        typer.echo(json.dumps({**summary.as_dict(with_rows=False), "seconds": round(summary.seconds, 2)}))
        if summary.needs_attention:
            raise typer.Exit(3)


def _kind(value: str) -> KindChoice:
    if value == "invoices":
        return "invoices"
    if value == "payments":
        return "payments"
    return "auto"
