"""Sends the tasks network providers must deliver, outside any database transaction.

A short transaction claims ``ready`` tasks (``sending``), the provider is called
with no transaction open, and a second transaction records the outcome and emits
``cobranza.contact.outcome``. A crash between the two leaves the task in
``sending`` for an operator to check (at most one send, never a silent resend).
Ready tasks of every tenant are claimed together; each outcome is recorded in a
unit of work of the task's tenant.
"""

from __future__ import annotations

from sqlalchemy import select, tuple_, update

from libs.runtime.context import ServiceContext
from services.notifier.adapters.orm import tasks
from services.notifier.adapters.providers import DeliveryResult, providers_for
from services.notifier.config import NotifierSettings
from services.notifier.service_layer.handlers import deliveries_for, record_outcome


def dispatch_ready(ctx: ServiceContext, settings: NotifierSettings | None = None, limit: int = 100) -> int:
    settings = settings or NotifierSettings()
    providers = providers_for(settings)
    with ctx.unit_of_work() as uow:
        claimed = uow.session.execute(
            select(tasks)
            .where(tasks.c.status == "ready")
            .order_by(tasks.c.scheduled_for)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        prepared = list(zip(claimed, deliveries_for(uow.session, claimed, settings), strict=True))
        if claimed:
            uow.session.execute(
                update(tasks)
                .where(
                    tuple_(tasks.c.tenant_id, tasks.c.contact_id).in_(
                        [(t.tenant_id, t.contact_id) for t in claimed]
                    )
                )
                .values(status="sending", updated_at=uow.now())
            )
    for task, item in prepared:
        result = item if isinstance(item, DeliveryResult) else providers[task.channel].deliver(item)
        with ctx.unit_of_work(correlation_id=task.contact_id, tenant=task.tenant_id) as uow:
            record_outcome(uow, task, result)
    return len(prepared)
