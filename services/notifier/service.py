"""notifier: delivers due contacts through channel providers and reports their outcomes."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.service import ServiceSpec
from services.notifier.adapters.orm import metadata
from services.notifier.entrypoints.api import router
from services.notifier.service_layer import handlers, privacy

SPEC = ServiceSpec(
    name="notifier",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations" / "versions",
    batch_handlers={
        "cobranza.contact.due": handlers.on_contacts_due,
        "cobranza.customer.upserted": handlers.on_customers_upserted,
        "cobranza.invoice.issued": handlers.on_invoices_issued,
        "cobranza.customer.erased": privacy.on_customers_erased,
    },
    batch_timers={handlers.DELIVER_TIMER: handlers.on_deliver},
    routers=(router,),
    http_port=8005,
    description="Contact task queue; e-mail, SMS, WhatsApp, call-center and letter delivery; outcomes.",
)
