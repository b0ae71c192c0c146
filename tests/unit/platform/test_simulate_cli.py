"""``cobranza simulate --batch-size N``: passed through to ``run_simulation``; default batched."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from libs.platform import simulator
from libs.platform.cli import app
from libs.platform.demo.portfolio import DemoSpec
from libs.platform.demo.stream import generate


@pytest.fixture
def events(tmp_path: Path) -> Path:
    out = io.StringIO()
    generate(DemoSpec(accounts=4, months=2, seed=3), out)
    path = tmp_path / "portfolio.jsonl"
    path.write_text(out.getvalue())
    return path


def _args(events: Path, out: Path, *extra: str) -> list[str]:
    dates = ["--start", "2026-01-01", "--end", "2026-02-28"]
    return ["simulate", "--events", str(events), *dates, "--out", str(out), *extra]


def test_batch_size_reaches_run_simulation(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def fake(*args: Any, **kwargs: Any) -> int:
        calls.append({"args": args, **kwargs})
        return 0

    monkeypatch.setattr(simulator, "run_simulation", fake)
    out = tmp_path / "out.jsonl"
    assert CliRunner().invoke(app, _args(events, out, "--batch-size", "7")).exit_code == 0
    assert CliRunner().invoke(app, _args(events, out)).exit_code == 0
    assert [c["batch_size"] for c in calls] == [7, None]
    assert calls[0]["args"][:4] == (events, date(2026, 1, 1), date(2026, 2, 28), out)


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_batch_size_below_one_is_a_usage_error(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setattr(simulator, "run_simulation", lambda *a, **k: pytest.fail("must not run"))
    result = CliRunner().invoke(app, _args(events, tmp_path / "out.jsonl", "--batch-size", bad))
    assert result.exit_code == 2
    assert "--batch-size" in result.output


@pytest.mark.slow
def test_one_by_one_and_batched_runs_write_the_same_events(
    events: Path, tmp_path: Path, pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_server)
    written = {}
    for label, extra in (("one", ["--batch-size", "1"]), ("all", [])):
        out = tmp_path / f"{label}.jsonl"
        result = CliRunner().invoke(app, _args(events, out, *extra))
        assert result.exit_code == 0, result.output
        lines = out.read_text().splitlines()
        assert f"{len(lines)} events written" in result.output
        written[label] = sorted(
            json.dumps({k: v for k, v in json.loads(line).items() if k not in ("traceparent", "tracestate")})
            for line in lines
        )
    assert written["one"] and written["one"] == written["all"]
