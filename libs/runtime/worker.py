"""One service process on Kafka: HTTP API in the main thread; consumer, relay and timers beside it.

The consumer loop is supervised: when it raises (a bug, a commit that keeps failing, a client that
broke) it is restarted with a fresh consumer after an exponential backoff, counted by
``cobranza_loop_restarts_total``. When it cannot run (more than ``consumer_max_restarts`` restarts
within ``consumer_restart_window_s``, or a fatal client error) the service turns not live
(``/healthz`` 503 with the reason) and the process stops with exit code 1, so an orchestrator (or
``cobranza up``) restarts it instead of leaving a service that looks healthy and consumes nothing.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from libs.runtime.context import ServiceContext
from libs.runtime.http import create_app
from libs.runtime.observability import configure_logging, configure_tracing
from libs.runtime.processor import EventProcessor
from libs.runtime.relay import OutboxRelay
from libs.runtime.service import ServiceSpec
from libs.runtime.settings import PlatformSettings
from libs.runtime.timers import TimerRunner
from libs.runtime.transport.kafka import (
    ConsumerFatal,
    KafkaConsumerLoop,
    KafkaPublisher,
    broker_reachable,
)

log = logging.getLogger(__name__)

LOOP_RESTARTS = Counter(
    "cobranza_loop_restarts_total", "Background loops restarted after they raised", ["service", "loop"]
)
EXIT_NOT_LIVE = 1


class LoopSupervisor:
    """Runs ``body(stop)`` until ``stop`` is set, restarting it when it raises, within a budget."""

    def __init__(
        self,
        service: str,
        name: str,
        body: Callable[[threading.Event], None],
        stop: threading.Event,
        settings: PlatformSettings,
        on_fatal: Callable[[str], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.name = name
        self.body = body
        self.stop = stop
        self.settings = settings
        self.on_fatal = on_fatal
        self.monotonic = monotonic
        self.restarts: deque[float] = deque()

    def run(self) -> None:
        window = self.settings.consumer_restart_window_s
        while not self.stop.is_set():
            try:
                self.body(self.stop)
                if self.stop.is_set():
                    return
                raise RuntimeError(f"the {self.name} loop returned while the service runs")
            except ConsumerFatal as exc:
                self.on_fatal(f"{self.name}: fatal error: {exc}")
                return
            except Exception as exc:
                log.exception("%s loop of %s crashed", self.name, self.service)
                LOOP_RESTARTS.labels(self.service, self.name).inc()
                now = self.monotonic()
                self.restarts.append(now)
                while self.restarts and self.restarts[0] < now - window:
                    self.restarts.popleft()
                if len(self.restarts) > self.settings.consumer_max_restarts:
                    self.on_fatal(
                        f"{self.name}: {len(self.restarts)} crashes within {window:g}s, last: "
                        f"{type(exc).__name__}: {exc}"
                    )
                    return
                backoff = min(30.0, self.settings.consumer_restart_backoff_s * 2 ** (len(self.restarts) - 1))
                log.warning("restarting the %s loop of %s in %.2fs", self.name, self.service, backoff)
                self.stop.wait(backoff)


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
        self.on_not_live: list[Callable[[], None]] = []

    def _loop(self, name: str, body: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=body, name=f"{self.spec.name}-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def fail(self, reason: str) -> None:
        """The service cannot work: report not live, stop the loops, and let the process exit non-zero."""
        log.critical("%s is not live: %s", self.spec.name, reason)
        self.ctx.not_live = reason
        self.stop.set()
        self.wake_relay.set()
        for callback in self.on_not_live:
            callback()

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
            supervisor = LoopSupervisor(
                self.spec.name, "consumer", self.consumer.run, self.stop, self.settings, self.fail
            )
            self._loop("consumer", supervisor.run)
        self._loop("relay", self._relay_loop)
        if self.spec.timers or self.spec.batch_timers:
            self._loop("timers", self._timer_loop)

    def shutdown(self) -> None:
        self.stop.set()
        self.wake_relay.set()
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join(timeout=15)
        try:
            self.relay.drain(max_rounds=20)
        except Exception:
            log.exception("final relay drain failed")
        self.publisher.close()
        self.ctx.dispose()


def liveness_guard(app: FastAPI, ctx: ServiceContext) -> None:
    """``/healthz`` answers 503 with the reason once the service is not live."""

    @app.middleware("http")
    async def not_live(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if ctx.not_live is not None and request.url.path == "/healthz":
            return JSONResponse({"status": "not live", "reason": ctx.not_live}, status_code=503)
        return await call_next(request)


def serve(server: uvicorn.Server, worker: ServiceWorker) -> int:
    """Run the HTTP server until it stops; the exit code says whether the service could work."""
    worker.on_not_live.append(lambda: setattr(server, "should_exit", True))
    server.run()
    return EXIT_NOT_LIVE if worker.ctx.not_live is not None else 0


def run_service(
    spec: ServiceSpec,
    settings: PlatformSettings,
    host: str = "127.0.0.1",
    port: int | None = None,
    fd: int | None = None,
) -> None:
    """Serve SPEC on HOST:PORT (its own port by default), or on the inherited listening socket FD."""
    configure_logging(spec.name, settings.log_level, settings.log_json)
    configure_tracing(spec.name, settings.otel_exporter)
    worker = ServiceWorker(spec, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """The HTTP server's lifespan is the workers' lifespan: SIGTERM drains both."""
        # What start-up built (modules, models, metadata, compiled schemas) lives as long as the
        # process: out of the collector's sight, so its full passes walk only what batches allocate.
        gc.collect()
        gc.freeze()
        worker.start_background()
        try:
            yield
        finally:
            worker.shutdown()

    app = create_app(worker.ctx, lifespan=lifespan)
    liveness_guard(app, worker.ctx)

    port = spec.http_port if port is None else port
    where = f"inherited socket fd {fd}" if fd is not None else f"{host}:{port}"
    log.info("starting %s on %s (topics %s)", spec.name, where, spec.topics)
    config = uvicorn.Config(app, host=host, port=port, fd=fd, log_config=None, access_log=False)
    code = serve(uvicorn.Server(config), worker)
    if code:
        raise SystemExit(code)
