"""The state dir: ``cobranza up`` records where it runs; other commands find it without exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from libs.platform.state import (
    PLATFORM_FILE,
    PlatformState,
    announce,
    apply_running_platform,
    read_state,
    remove_state,
)


def test_announce_records_the_platform_and_prints_where_everything_is(tmp_path: Path) -> None:
    (tmp_path / "admin.key").write_text("secret\n")
    urls = {"ingest": "http://127.0.0.1:8001", "reporting": "http://127.0.0.1:8007"}

    lines = announce(tmp_path, "postgresql://u@/cobranza?host=/x", "127.0.0.1:9092", urls)

    assert "dashboard       http://127.0.0.1:8007/dashboard" in lines
    assert "DATABASE_URL=postgresql://u@/cobranza?host=/x" in lines
    assert "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092" in lines
    assert any(str(tmp_path / "admin.key") in line for line in lines)
    path = tmp_path / PLATFORM_FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    state = read_state(tmp_path)
    assert state is not None and state.services == urls and state.pid == os.getpid()
    remove_state(tmp_path, os.getpid() + 1)  # not its platform: left alone
    assert path.exists()
    remove_state(tmp_path, os.getpid())
    assert not path.exists() and read_state(tmp_path) is None


def test_a_platform_whose_process_is_gone_is_not_found(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    PlatformState("postgresql://x", "127.0.0.1:1", int(gone.stdout)).write(tmp_path)
    assert read_state(tmp_path) is None
    env = {"COBRANZA_STATE_DIR": str(tmp_path)}
    assert apply_running_platform(env) is None and "DATABASE_URL" not in env


def test_unset_variables_come_from_the_running_platform_explicit_ones_win(tmp_path: Path) -> None:
    PlatformState("postgresql://embedded", "127.0.0.1:9092", os.getpid()).write(tmp_path)

    env = {"COBRANZA_STATE_DIR": str(tmp_path)}
    apply_running_platform(env)
    assert env["DATABASE_URL"] == "postgresql://embedded"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"

    mine = {"COBRANZA_STATE_DIR": str(tmp_path), "DATABASE_URL": "postgresql://mine"}
    apply_running_platform(mine)
    assert mine["DATABASE_URL"] == "postgresql://mine"


def test_cli_commands_find_the_platform_through_the_state_dir(tmp_path: Path, monkeypatch) -> None:
    """``dlq list`` with nothing exported reaches the broker platform.json names (here: none
    listening, so it fails connecting to THAT address rather than asking for the variable)."""
    from libs.platform import cli

    PlatformState("postgresql://embedded", "127.0.0.1:1", os.getpid()).write(tmp_path)
    monkeypatch.setenv("COBRANZA_STATE_DIR", str(tmp_path))
    for name in (
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "COBRANZA_DATABASE_URL",
        "COBRANZA_KAFKA_BOOTSTRAP_SERVERS",
    ):
        monkeypatch.delenv(name, raising=False)
    seen: list[str] = []

    def fake_read(bootstrap: str, prefix: str):  # type: ignore[no-untyped-def]
        seen.append(bootstrap)
        return iter(())

    monkeypatch.setattr("libs.platform.dlq.read_dead_letters", fake_read)
    result = CliRunner().invoke(cli.app, ["dlq", "list"])
    assert result.exit_code == 0, result.output
    assert seen == ["127.0.0.1:1"]
    assert json.loads((tmp_path / PLATFORM_FILE).read_text())["database_url"] == "postgresql://embedded"
