"""``cobranza segments``: validate, preview and activate rule sets; train the payment score."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from libs.runtime.context import ServiceContext
from libs.runtime.settings import PlatformSettings
from services.segmentation.domain.model import NotEnoughHistory
from services.segmentation.domain.rules import RuleSet, RuleSetError, parse_rules_yaml

segments_app = typer.Typer(help="Segments: rules (validate, preview, activate) and the payment score (train)")

RulesOption = Annotated[Path, typer.Option("--rules", exists=True, dir_okay=False, help="a segments.yaml")]


def _load(path: Path) -> RuleSet:
    try:
        return parse_rules_yaml(path.read_text(encoding="utf-8"))
    except RuleSetError as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem}", err=True)
        raise typer.Exit(1) from exc


def _context(settings: PlatformSettings) -> ServiceContext:
    from services.segmentation.service import SPEC

    if not settings.database_url:
        typer.echo("DATABASE_URL is not set", err=True)
        raise typer.Exit(2)
    return ServiceContext.create(SPEC, settings.database_url, settings=settings, pool_size=1)


@segments_app.command("validate")
def validate(rules: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Check a rules file; each problem is printed with the rule it belongs to."""
    loaded = _load(rules)
    typer.echo(
        f"{rules}: version {loaded.version}, {len(loaded.rules)} rules, segments: {', '.join(loaded.segments)}"
    )


@segments_app.command("preview")
def preview(rules: RulesOption) -> None:
    """Show how many accounts and how much balance would move between segments under RULES."""
    from services.segmentation.service_layer.commands import preview_rules

    candidate = _load(rules)
    settings = PlatformSettings()
    ctx = _context(settings)
    try:
        with ctx.sessions() as session:
            matrix = preview_rules(session, settings.tenant, candidate, ctx.clock.now())
    finally:
        ctx.dispose()
    typer.echo(f"{'from':<22} {'to':<22} {'accounts':>9} {'overdue balance':>20} {'total balance':>20}")
    for row in matrix.as_rows():
        marker = "" if row["from"] == row["to"] else "  *"
        typer.echo(
            f"{row['from'] or '(none)':<22} {row['to']:<22} {row['accounts']:>9} "
            f"{row['overdue_balance']:>20} {row['total_balance']:>20}{marker}"
        )
    totals = matrix.totals()
    typer.echo(
        f"moving (*): {totals.accounts} accounts, overdue {totals.overdue_balance:f}, total {totals.total_balance:f}"
    )


@segments_app.command("activate")
def activate(rules: RulesOption) -> None:
    """Activate RULES (a new version) and re-segment every account; changes are announced."""
    from services.segmentation.service_layer.commands import RuleVersionConflict, activate_rules

    candidate = _load(rules)
    ctx = _context(PlatformSettings())
    try:
        with ctx.unit_of_work() as uow:
            result = activate_rules(uow, candidate, source=str(rules))
    except RuleVersionConflict as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        ctx.dispose()
    typer.echo(f"version {result.version} active: {result.accounts} accounts, {result.moved} moved")


@segments_app.command("train")
def train(
    out: Annotated[Path, typer.Option("--out", file_okay=False)] = Path("models/segmentation"),
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD; default today")] = None,
    snapshots: Annotated[int, typer.Option(min=1, max=24)] = 3,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the probability-of-payment model on this tenant's history, store and activate it."""
    from services.segmentation.service_layer.commands import rescore_all, train_model

    settings = PlatformSettings()
    ctx = _context(settings)
    day = date.fromisoformat(as_of) if as_of else ctx.clock.now().date()
    try:
        with ctx.unit_of_work() as uow:
            report = train_model(
                uow.session, uow.tenant, now=uow.now(), as_of=day, snapshots=snapshots, out_dir=out, seed=seed
            )
            moved = rescore_all(uow)
    except NotEnoughHistory as exc:
        typer.echo(f"not trained, the rule-based fallback score stays in use: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        ctx.dispose()
    m = report.model
    typer.echo(
        f"model v{report.version}: AUC {m.auc:.3f} on {m.n_test} held-out rows "
        f"({m.n_train} training rows, {m.positive_rate:.1%} paid); saved to {report.path}; "
        f"{moved} accounts changed segment"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")
