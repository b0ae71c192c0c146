"""Write the demo portfolio in time order with memory that does not grow with the portfolio.

Customers are generated one after another (each spans the whole period), so their events are
put in time order by an external merge sort: lines carry a fixed-width sort key (epoch
second, entity number, sequence within the entity), a bounded buffer is sorted and spilled
to a temporary run file when full, and the runs are merged with a heap (``heapq.merge``).
Runs are merged in groups when there are too many to keep open. A portfolio that fits in
one buffer never touches the disk. The key is unique per event, so the bytes written do not
depend on where the buffer boundaries fell.
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from libs.platform.demo.portfolio import DemoSpec, customers

KEY_WIDTH = 11 + 9 + 6
DEFAULT_BUFFER = 100_000
MAX_OPEN_RUNS = 200


def sort_key(epoch: int, entity: int, sequence: int) -> str:
    return f"{epoch:011d}{entity:09d}{sequence:06d}"


@dataclass
class GenerateStats:
    events: int = 0
    customers: int = 0
    runs: int = 0


def keyed_lines(spec: DemoSpec, stats: GenerateStats) -> Iterator[str]:
    for entity, items in customers(spec):
        if entity:
            stats.customers += 1
        for epoch, sequence, line in items:
            yield sort_key(epoch, entity, sequence) + line


class RunFiles:
    """Sorted run files in a private temporary directory, merged down to at most ``MAX_OPEN_RUNS``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.paths: list[Path] = []
        self._count = 0

    def spill(self, lines: Iterable[str]) -> None:
        self.paths.append(self._write(lines))
        if len(self.paths) >= MAX_OPEN_RUNS:
            merged = self._write(merge_runs(self.paths))
            for path in self.paths:
                path.unlink()
            self.paths = [merged]

    def _write(self, lines: Iterable[str]) -> Path:
        self._count += 1
        path = self.directory / f"run-{self._count:06d}.txt"
        with path.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line)
                handle.write("\n")
        return path


def merge_runs(paths: list[Path]) -> Iterator[str]:
    with ExitStack() as stack:
        handles = [stack.enter_context(path.open(encoding="utf-8", buffering=1 << 16)) for path in paths]
        for line in heapq.merge(*handles):
            yield line.rstrip("\n")


def generate(
    spec: DemoSpec,
    out: IO[str],
    *,
    buffer_lines: int = DEFAULT_BUFFER,
    tmp_dir: Path | None = None,
) -> GenerateStats:
    """Write ``spec``'s portfolio to ``out`` as CloudEvents JSON lines in time order."""
    stats = GenerateStats()
    buffer: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cobranza-demo-", dir=tmp_dir) as tmp:
        runs = RunFiles(Path(tmp))
        for keyed in keyed_lines(spec, stats):
            buffer.append(keyed)
            if len(buffer) >= buffer_lines:
                buffer.sort()
                runs.spill(buffer)
                stats.runs += 1
                buffer = []
        buffer.sort()
        if runs.paths:
            runs.spill(buffer)
            stats.runs += 1
            buffer = []
            ordered: Iterable[str] = merge_runs(runs.paths)
        else:
            ordered = buffer
        for keyed in ordered:
            out.write(keyed[KEY_WIDTH:])
            out.write("\n")
            stats.events += 1
        out.flush()
    return stats


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux ``ru_maxrss`` is KiB)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if os.uname().sysname == "Linux" else peak / (1024 * 1024)
