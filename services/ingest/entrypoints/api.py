"""ingest's REST API."""

from __future__ import annotations

from fastapi import APIRouter, status

from libs.events.payloads.invoices import InvoiceIssued
from libs.runtime.context import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["invoices"])

    @api.post("/invoices", status_code=status.HTTP_202_ACCEPTED)
    def create_invoice(invoice: InvoiceIssued) -> dict[str, str]:
        with ctx.unit_of_work() as uow:
            envelope = uow.emit(invoice)
        return {"event_id": envelope.id, "invoice_id": invoice.invoice_id}

    return api
