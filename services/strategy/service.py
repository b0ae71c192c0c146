"""strategy: promises to pay and per-segment contact playbooks within Ley 2300 de 2023."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.strategy.adapters import plans_orm  # noqa: F401  (the plans' tables on ``metadata``)
from services.strategy.adapters.orm import metadata
from services.strategy.entrypoints.api import router
from services.strategy.entrypoints.decisions_api import router as decisions_router
from services.strategy.entrypoints.plans_api import router as plans_router
from services.strategy.service_layer import handlers, plans, privacy, timers

SPEC = ServiceSpec(
    name="strategy",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    batch_handlers={
        **dict.fromkeys(handlers.CONSUMES, handlers.on_events),
        **dict.fromkeys(plans.CONSUMES, plans.on_strategy_events),
        **dict.fromkeys(timers.CONTACT_EVENTS, timers.on_contact_events),
        "cobranza.customer.erased": privacy.on_customers_erased,
    },
    batch_timers={
        handlers.PROMISE_TIMER: timers.on_promise_deadlines,
        handlers.CONTACT_TIMER: timers.on_contact_steps,
        handlers.PAUSE_TIMER: handlers.on_pause_ends,
        plans.PLAN_DUE_TIMER: plans.on_due,
        plans.PLAN_GRACE_TIMER: plans.on_grace,
    },
    routers=(router, decisions_router, plans_router),
    http_port=8004,
    description="Promises to pay, per-segment playbooks and the Ley 2300 contact policy.",
)
