"""strategy: promises to pay and per-segment contact playbooks within Ley 2300 de 2023."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.strategy.adapters.orm import metadata
from services.strategy.entrypoints.api import router
from services.strategy.entrypoints.decisions_api import router as decisions_router
from services.strategy.service_layer import handlers

SPEC = ServiceSpec(
    name="strategy",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    batch_handlers=dict.fromkeys(handlers.CONSUMES, handlers.on_events),
    timers={
        handlers.PROMISE_TIMER: handlers.on_promise_deadline,
        handlers.CONTACT_TIMER: handlers.on_contact_step,
        handlers.PAUSE_TIMER: handlers.on_pause_end,
    },
    routers=(router, decisions_router),
    http_port=8004,
    description="Promises to pay, per-segment playbooks and the Ley 2300 contact policy.",
)
