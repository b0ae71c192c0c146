"""The runtime's probe service (tests/unit/runtime/runtime_probe.py) on a fresh database, for Kafka tests."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from libs.platform.databases import fresh_database
from libs.runtime.db import drop_database
from libs.runtime.service import ServiceSpec

PROBE = Path(__file__).resolve().parents[2] / "unit" / "runtime" / "runtime_probe.py"


def _load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("runtime_probe", PROBE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def probe() -> ModuleType:
    return _load_probe()


@pytest.fixture
def probe_database(pg_server: str, probe: ModuleType) -> Iterator[Callable[..., tuple[ServiceSpec, str]]]:
    """``probe_database(batch=False)``: the probe's spec and a fresh database migrated for it."""
    names: list[str] = []

    def build(*, batch: bool = False) -> tuple[ServiceSpec, str]:
        spec: ServiceSpec = probe.probe_spec(batch=batch)
        name = f"cobranza_probe_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        names.append(name)
        return spec, fresh_database(pg_server, [spec], name)

    yield build
    for name in names:
        drop_database(pg_server, name)
