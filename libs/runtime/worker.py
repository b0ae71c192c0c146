"""One service process on Kafka: HTTP API in the main thread; consumer, relay and timers beside it."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from libs.runtime.context import ServiceContext
from libs.runtime.http import create_app
from libs.runtime.observability import configure_logging, configure_tracing
from libs.runtime.processor import EventProcessor
from libs.runtime.relay import OutboxRelay
from libs.runtime.service import ServiceSpec
from libs.runtime.settings import PlatformSettings
from libs.runtime.timers import TimerRunner
from libs.runtime.transport.kafka import KafkaConsumerLoop, KafkaPublisher, broker_reachable

log = logging.getLogger(__name__)


class ServiceWorker:
    def __init__(self, spec: ServiceSpec, settings: PlatformSettings) -> None:
        if not settings.database_url or not settings.kafka_bootstrap_servers:
            raise SystemExit(
                "a service needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (or run `cobranza up`)"
            )
        self.spec = spec
        self.settings = settings
        self.stop = threading.Event()
        self.ctx = ServiceContext.create(spec, settings.database_url, settings=settings, pool_size=8)
        bootstrap = settings.kafka_bootstrap_servers
        self.ctx.broker_ready = lambda: broker_reachable(bootstrap, timeout=2.0)
        self.publisher = KafkaPublisher(
            bootstrap, client_id=f"cobranza-{spec.name}-relay", topic_prefix=settings.kafka_topic_prefix
        )
        self.relay = OutboxRelay(self.ctx, self.publisher)
        self.timers = TimerRunner(self.ctx)
        self.wake_relay = threading.Event()
        self.ctx.on_commit.append(self.wake_relay.set)
        self.consumer = (
            KafkaConsumerLoop(EventProcessor(self.ctx), settings, spec.topics) if spec.topics else None
        )
        self.threads: list[threading.Thread] = []

    def _loop(self, name: str, body: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=body, name=f"{self.spec.name}-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def _relay_loop(self) -> None:
        rounds = 0
        while not self.stop.is_set():
            try:
                sent = self.relay.relay_once()
                rounds += 1
                if rounds % 3000 == 0:
                    self.relay.purge_published()
            except Exception:
                log.exception("relay round failed")
                sent = 0
            if sent == 0:
                self.wake_relay.wait(self.settings.relay_interval_s)
                self.wake_relay.clear()

    def _timer_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.timers.run_due()
            except Exception:
                log.exception("timer round failed")
            self.stop.wait(self.settings.timer_poll_interval_s)

    def start_background(self) -> None:
        if self.consumer is not None:
            consumer = self.consumer
            self._loop("consumer", lambda: consumer.run(self.stop))
        self._loop("relay", self._relay_loop)
        if self.spec.timers:
            self._loop("timers", self._timer_loop)

    def shutdown(self) -> None:
        self.stop.set()
        self.wake_relay.set()
        for thread in self.threads:
            thread.join(timeout=15)
        try:
            self.relay.drain(max_rounds=20)
        except Exception:
            log.exception("final relay drain failed")
        self.publisher.close()
        self.ctx.dispose()


def run_service(
    spec: ServiceSpec, settings: PlatformSettings, host: str = "127.0.0.1", port: int | None = None
) -> None:
    configure_logging(spec.name, settings.log_level, settings.log_json)
    configure_tracing(spec.name, settings.otel_exporter)
    worker = ServiceWorker(spec, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """The HTTP server's lifespan is the workers' lifespan: SIGTERM drains both."""
        worker.start_background()
        try:
            yield
        finally:
            worker.shutdown()

    app = create_app(worker.ctx, lifespan=lifespan)

    log.info(
        "starting %s on %s:%s (topics %s)",
        spec.name,
        host,
        spec.http_port if port is None else port,
        spec.topics,
    )
    uvicorn.run(
        app, host=host, port=spec.http_port if port is None else port, log_config=None, access_log=False
    )
