"""aging's handlers."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert

from libs.events.payloads.invoices import InvoiceIssued
from libs.events.registry import DecodedEvent
from libs.runtime.uow import UnitOfWork
from services.aging.adapters.orm import invoices


def on_invoice_issued(event: DecodedEvent[InvoiceIssued], uow: UnitOfWork) -> None:
    inv = event.payload
    uow.session.execute(
        pg_insert(invoices)
        .values(
            invoice_id=inv.invoice_id,
            account_id=inv.account_id,
            amount=inv.amount,
            open_amount=inv.amount,
            currency=inv.currency,
            due_on=inv.due_on,
            timezone=inv.customer.timezone,
            product_line=inv.product_line,
            updated_at=uow.now(),
        )
        .on_conflict_do_nothing()
    )
