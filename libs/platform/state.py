"""The state directory of an embedded platform (``.cobranza/`` unless ``COBRANZA_STATE_DIR``).

``cobranza up`` writes ``<state dir>/platform.json`` (service URLs, dashboard, ``DATABASE_URL``,
``KAFKA_BOOTSTRAP_SERVERS``, its pid) once everything runs, and removes it when it stops. The other
commands (``ingest file``, ``dlq list``, ``segments preview``, ``demo load``…) read it when those
variables are not set, so a second terminal needs nothing exported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

PLATFORM_FILE = "platform.json"


@dataclass(frozen=True)
class PlatformState:
    database_url: str
    kafka_bootstrap_servers: str
    pid: int
    services: dict[str, str] = field(default_factory=dict)
    """service name → base URL"""
    dashboard: str | None = None
    admin_key_file: str | None = None

    def write(self, state_dir: Path) -> Path:
        """Written atomically, mode 0600 (the DSN may carry a password)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / PLATFORM_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out, indent=2)
        tmp.replace(path)
        return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(state_dir: Path) -> PlatformState | None:
    """The running platform of STATE_DIR; None when there is none (no file, or its process is gone)."""
    path = state_dir / PLATFORM_FILE
    try:
        raw = json.loads(path.read_text())
        state = PlatformState(**raw)
    except (OSError, ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def remove_state(state_dir: Path, pid: int) -> None:
    """Remove platform.json if it is PID's (a second ``up`` on the same dir must not erase the first's)."""
    path = state_dir / PLATFORM_FILE
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def state_dir_from(env: Mapping[str, str]) -> Path:
    return Path(env.get("COBRANZA_STATE_DIR") or ".cobranza")


def announce(state_dir: Path, database_url: str, bootstrap: str, services: Mapping[str, str]) -> list[str]:
    """Record the platform ``cobranza up`` just started (this process) and say where it is: the
    dashboard, the admin key's file, the infrastructure's ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS``."""
    key = state_dir / "admin.key"
    state = PlatformState(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        pid=os.getpid(),
        services=dict(services),
        dashboard=f"{services['reporting']}/dashboard" if "reporting" in services else None,
        admin_key_file=str(key) if key.exists() else None,
    )
    path = state.write(state_dir)
    out = [f"{'dashboard':<15} {state.dashboard}"] if state.dashboard else []
    if state.admin_key_file:
        out.append(f"{'admin key file':<15} {state.admin_key_file}")
    out.append(f"DATABASE_URL={database_url}")
    out.append(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
    out.append(f"state      {path} (cobranza commands in another terminal find this platform through it)")
    return out


def apply_running_platform(env: MutableMapping[str, str]) -> PlatformState | None:
    """Fill ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` of ENV from the running embedded platform,
    each only where it is unset: an explicit setting always wins."""
    state = read_state(state_dir_from(env))
    if state is None:
        return None
    if not (env.get("DATABASE_URL") or env.get("COBRANZA_DATABASE_URL")):
        env["DATABASE_URL"] = state.database_url
    if not (env.get("KAFKA_BOOTSTRAP_SERVERS") or env.get("COBRANZA_KAFKA_BOOTSTRAP_SERVERS")):
        env["KAFKA_BOOTSTRAP_SERVERS"] = state.kafka_bootstrap_servers
    return state
