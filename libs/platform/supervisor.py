"""``cobranza up``: the whole platform on this machine, each service its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import typer

from libs.auth.migrations.upgrade import upgrade_auth
from libs.platform.databases import service_logins
from libs.platform.embedded import EmbeddedKafka, EmbeddedPostgres
from libs.platform.registry import available_specs
from libs.runtime.context import ServiceContext
from libs.runtime.db import ensure_database, with_database
from libs.runtime.migrations import upgrade
from libs.runtime.relay import republish_retained
from libs.runtime.settings import PlatformSettings
from libs.runtime.transport.kafka import ensure_topics

DATABASE = "cobranza"


@dataclass
class Child:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, settings: PlatformSettings, services: list[str] | None = None) -> None:
        self.settings = settings
        self.specs = [s for s in available_specs() if not services or s.name in services]
        self.state = settings.state_dir.resolve()
        self.pg: EmbeddedPostgres | None = None
        self.kafka: EmbeddedKafka | None = None
        self.children: list[Child] = []
        self.stopping = False

    def start_infrastructure(self) -> tuple[str, str]:
        db_url = self.settings.database_url
        if not db_url:
            self.pg = EmbeddedPostgres(self.state / "pgdata")
            server = self.pg.start()
            ensure_database(server, DATABASE)
            db_url = with_database(server, DATABASE)
            typer.echo(f"postgres   embedded PostgreSQL 18 at {self.state / 'pgdata'}")
        bootstrap = self.settings.kafka_bootstrap_servers
        if not bootstrap:
            self.kafka = EmbeddedKafka(self.state / "logs" / "tansu.log")
            bootstrap = self.kafka.start()
            typer.echo(f"kafka      embedded Tansu broker at {bootstrap} (memory storage)")
        return db_url, bootstrap

    def spawn(self, name: str, port: int, env: dict[str, str]) -> Child:
        log_path = self.state / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "libs.platform.cli", "service", "run", name, "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return Child(name, port, process, log_path)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self._request_stop())
        try:
            db_url, bootstrap = self.start_infrastructure()
            for spec in self.specs:
                upgrade(spec, db_url)
            upgrade_auth(db_url)
            typer.echo(f"migrations applied for {', '.join(s.name for s in self.specs)}")
            created = ensure_topics(bootstrap, prefix=self.settings.kafka_topic_prefix)
            typer.echo(f"topics     {len(created)} created")
            if self.kafka is not None or self.settings.republish_on_start:
                self.republish(db_url)
            env = {**os.environ, "DATABASE_URL": db_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
            if self.pg is not None:  # the embedded default: each service under its own login role
                env.update(service_logins(self.state, db_url, [s.name for s in self.specs]))
                typer.echo(f"logins     one per service ({self.state / 'db-logins.json'}, mode 0600)")
            for spec in self.specs:
                self.children.append(self.spawn(spec.name, spec.http_port, env))
            for child in self.children:
                typer.echo(
                    f"{child.name:<15} http://127.0.0.1:{child.port}  (docs /docs, metrics /metrics; "
                    f"log {child.log_path})"
                )
            if self.pg is not None:  # the embedded default: a first-start admin key in the state dir
                from libs.platform.auth_cli import admin_key_lines

                for line in admin_key_lines(db_url, self.state):
                    typer.echo(line)
            from libs.platform.state import announce

            urls = {c.name: f"http://127.0.0.1:{c.port}" for c in self.children}
            for line in announce(self.state, db_url, bootstrap, urls):
                typer.echo(line)
            typer.echo("cobranza is up. Ctrl-C stops everything.")
            self._watch(env)
        except KeyboardInterrupt:
            pass
        finally:
            self.shutdown()

    def _request_stop(self) -> None:
        raise KeyboardInterrupt

    def republish(self, db_url: str) -> int:
        """Queue every retained outbox row again: a fresh broker has none of them, the inboxes drop repeats.

        The embedded broker keeps its log in memory, so whatever consumers had not read when it stopped
        is gone; the outboxes (published rows kept ``outbox_retention_days``) are the durable log.
        """
        total = 0
        for spec in self.specs:
            ctx = ServiceContext.create(spec, db_url, settings=self.settings, pool_size=1)
            try:
                total += republish_retained(ctx)
            finally:
                ctx.dispose()
        typer.echo(f"outboxes   {total} retained events queued again for the fresh broker")
        return total

    def _broker_died(self, db_url: str) -> None:
        """The embedded broker exited: start it again on its port, recreate topics, republish."""
        assert self.kafka is not None
        typer.echo("the embedded broker exited; starting it again", err=True)
        self.kafka.stop()
        bootstrap = self.kafka.start()
        ensure_topics(bootstrap, prefix=self.settings.kafka_topic_prefix)
        self.republish(db_url)

    def _watch(self, env: dict[str, str]) -> None:
        while True:
            time.sleep(1)
            if self.kafka is not None and (
                self.kafka.process is None or self.kafka.process.poll() is not None
            ):
                self._broker_died(env["DATABASE_URL"])
            for i, child in enumerate(self.children):
                code = child.process.poll()
                if code is None:
                    continue
                backoff = min(30, 2**child.restarts)
                typer.echo(
                    f"{child.name} exited with {code}; restarting in {backoff}s (see {child.log_path})",
                    err=True,
                )
                time.sleep(backoff)
                replacement = self.spawn(child.name, child.port, env)
                replacement.restarts = child.restarts + 1
                self.children[i] = replacement

    def shutdown(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        typer.echo("stopping…")
        from libs.platform.state import remove_state

        remove_state(self.state, os.getpid())
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in self.children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
        if self.kafka:
            self.kafka.stop()
        if self.pg:
            self.pg.stop()
        typer.echo("stopped.")
