"""``cobranza notifier-dispatch``: send tasks waiting for network providers (SMTP, HTTP)."""

from __future__ import annotations

import time

import typer

from libs.platform.registry import load_spec
from libs.runtime.context import ServiceContext
from libs.runtime.settings import PlatformSettings
from services.notifier.service_layer.dispatch import dispatch_ready


def register(app: typer.Typer) -> None:
    @app.command("notifier-dispatch")
    def notifier_dispatch(
        loop: bool = typer.Option(False, help="keep sending every --interval seconds"),
        interval: float = typer.Option(5.0, min=0.1),
    ) -> None:
        """Send contacts whose provider is a network service, outside database transactions."""
        settings = PlatformSettings()
        if not settings.database_url:
            raise typer.BadParameter("DATABASE_URL is required")
        ctx = ServiceContext.create(load_spec("notifier"), settings.database_url, settings=settings)
        try:
            while True:
                sent = dispatch_ready(ctx)
                typer.echo(f"dispatched {sent}")
                if not loop:
                    return
                time.sleep(interval)
        finally:
            ctx.dispose()
