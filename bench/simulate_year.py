"""Benchmark: ``cobranza simulate`` of a year of a generated portfolio, wall time and peak RSS.

    .venv/bin/python bench/simulate_year.py [--sizes 1000 10000 100000] [--months 12] [--seed 1]
                                            [--batch-size N] [--timeout 3600] [--keep DIR]

For each size: ``cobranza demo generate --accounts N`` (timed apart), then ``cobranza simulate``
of the whole period as a subprocess with its own ``COBRANZA_STATE_DIR`` (so its own embedded
PostgreSQL), measured with ``os.wait4``: wall time, the simulator process's CPU time and peak RSS
(PostgreSQL's processes are not children of it: their CPU and memory are not in those columns).

The limit measured in the same run: the same input through the same simulator (time slices,
in-memory transport, inbox, one transaction per batch) with one no-op service on the inbound
topic, so what the services add on top of delivering the input is the ratio. Targets (issue 8):
10k accounts ≤ 60 s, 100k ≤ 600 s, peak RSS ≤ 2 GiB. Runs the checkout on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_S = {10_000: 60.0, 100_000: 600.0}
RSS_LIMIT_MIB = 2048.0
START = date(2026, 1, 1)


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, {model}, load average {load}"


def end_of(months: int) -> date:
    year, month = START.year + (START.month - 1 + months) // 12, (START.month - 1 + months) % 12 + 1
    return date(year, month, 1) - timedelta(days=1)


def cli() -> list[str]:
    return [sys.executable, "-m", "libs.platform.cli"]


def run_measured(argv: list[str], env: dict[str, str], timeout: float, log: Path) -> dict[str, float]:
    """Wall, CPU and peak RSS of one child process (``wait4``: exact, no sampling)."""
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.terminate()  # SIGTERM: the simulator stops its embedded PostgreSQL on the way out
                os.wait4(proc.pid, 0)
                raise TimeoutError(f"{' '.join(argv[3:5])} still running after {timeout:.0f}s")
            time.sleep(0.05)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"exit {code}; see {log}:\n{log.read_text()[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024.0,
    }


def noop_reference(events_path: Path, months: int) -> dict[str, float]:
    """The same input, slices and runtime, delivered to one service whose batch handler does nothing."""
    from sqlalchemy import MetaData

    from libs.events.catalog import Topics
    from libs.platform.embedded import EmbeddedPostgres
    from libs.platform.simulator import Simulation, day_start, read_events
    from libs.runtime.service import ServiceSpec
    from libs.runtime.settings import PlatformSettings
    from services.ingest.service import SPEC as INGEST

    def nothing(events: Sequence[Any], uow: Any) -> None:
        return None

    metadata = MetaData(schema=INGEST.name)  # the runtime adds its own inbox/outbox/timers to it
    for table in INGEST.metadata.sorted_tables:
        if table.name not in {"inbox", "outbox", "timers"}:
            table.to_metadata(metadata)
    spec = ServiceSpec(
        name=INGEST.name,
        metadata=metadata,
        migrations_dir=INGEST.migrations_dir,
        raw_batch_topics={Topics.INBOUND: nothing},
    )
    with tempfile.TemporaryDirectory(prefix="bench_sim_noop_") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pgdata")
        server = pg.start()
        try:
            cpu0, started = time.process_time(), time.perf_counter()
            events = read_events(events_path)
            sim = Simulation(
                server, day_start(START), specs=[spec], settings=PlatformSettings(database_url=server)
            )
            try:
                finish = day_start(end_of(months) + timedelta(days=1)) - timedelta(microseconds=1)
                sim.run(events, finish)
                batches = len(sim.platform.results)
            finally:
                sim.close()
            return {
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu0,
                "batches": float(batches),
            }
        finally:
            pg.stop()


def bench(size: int, args: argparse.Namespace, work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    env.pop("DATABASE_URL", None)
    env.pop("COBRANZA_DATABASE_URL", None)
    portfolio = work / f"portfolio_{size}.jsonl"
    spec = ["--accounts", str(size), "--months", str(args.months), "--seed", str(args.seed)]
    gen = run_measured(
        [*cli(), "demo", "generate", *spec, "--out", str(portfolio)],
        env,
        args.timeout,
        work / f"generate_{size}.log",
    )
    inputs = sum(1 for _ in portfolio.open(encoding="utf-8"))
    print(f"  generate  {size:>7} accounts: {inputs} input events in {gen['wall_s']:.1f} s", flush=True)

    ref = noop_reference(portfolio, args.months)
    print(
        f"  no-op     {inputs / ref['wall_s']:>9,.0f} input events/s, {ref['wall_s']:.1f} s wall, "
        f"{ref['cpu_s']:.1f} s CPU, {ref['batches']:.0f} batches",
        flush=True,
    )

    out = work / f"emitted_{size}.jsonl"
    argv = [*cli(), "simulate", "--events", str(portfolio), "--start", START.isoformat()]
    argv += ["--end", end_of(args.months).isoformat(), "--out", str(out)]
    if args.batch_size:
        argv += ["--batch-size", str(args.batch_size)]
    sim_env = {**env, "COBRANZA_STATE_DIR": str(work / f"state_{size}"), "COBRANZA_LOG_LEVEL": "WARNING"}
    try:
        sim = run_measured(argv, sim_env, args.timeout, work / f"simulate_{size}.log")
    finally:
        shutil.rmtree(work / f"state_{size}", ignore_errors=True)
    emitted = sum(1 for _ in out.open(encoding="utf-8"))
    target = TARGET_S.get(size)
    verdict = f"target {target:.0f} s: {sim['wall_s'] / target:.2f}x the target" if target else "no target"
    print(
        f"  simulate  {size:>7} accounts, {args.months} months: {sim['wall_s']:.1f} s wall "
        f"({inputs / sim['wall_s']:,.0f} input events/s, {emitted} events emitted), "
        f"{sim['cpu_s']:.1f} s CPU in the simulator process ({sim['cpu_s'] / sim['wall_s']:.0%} of wall), "
        f"peak RSS {sim['rss_mib']:.0f} MiB ({sim['rss_mib'] / RSS_LIMIT_MIB:.2f}x the 2 GiB limit)",
        flush=True,
    )
    print(
        f"  ratio     simulate / no-op delivery of the same input: {sim['wall_s'] / ref['wall_s']:.1f}x wall; "
        f"{verdict}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="passed to cobranza simulate")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per command, seconds")
    parser.add_argument("--keep", type=Path, default=None, help="keep portfolios, logs and output here")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, checkout {os.environ.get('PYTHONPATH', REPO)}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for size in args.sizes:
            print(f"{size} accounts")
            try:
                bench(size, args, work)
            except (TimeoutError, RuntimeError) as exc:
                print(f"  failed: {exc}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"machine at the end: {machine()}; own peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
