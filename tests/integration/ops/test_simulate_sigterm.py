"""``cobranza simulate`` killed with SIGTERM stops the embedded PostgreSQL it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _postmaster(pidfile: Path) -> int:
    """The running server's pid (initdb's bootstrap backend writes a negative one first)."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pid if pid > 0 and _alive(pid) else 0


def test_sigterm_stops_the_embedded_postgres(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "COBRANZA_DATABASE_URL")}
    env.update(COBRANZA_STATE_DIR=str(tmp_path / "state"), XDG_RUNTIME_DIR=str(tmp_path / "run"))
    args = ["simulate", "--events", str(ROOT / "examples" / "portfolio.jsonl")]
    args += ["--start", "2026-01-01", "--end", "2040-12-31", "--out", str(tmp_path / "out.jsonl")]
    process = subprocess.Popen(
        [sys.executable, "-m", "libs.platform.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    pidfile = tmp_path / "state" / "pgdata" / "postmaster.pid"
    try:
        _wait(lambda: _postmaster(pidfile) > 0, 120, "the embedded postgres (past initdb)")
        postmaster = _postmaster(pidfile)
        # started, still simulating (fifteen years of days): now stop it the way a supervisor does
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert process.returncode == 128 + signal.SIGTERM, output
    _wait(lambda: not _alive(postmaster), 30, f"postmaster {postmaster} to exit")
    assert not pidfile.exists()
