"""ingest's REST API (prefix /v1).

* ``Idempotency-Key`` (optional) on every command: a retry with the same key and body gets the
  original response (header ``Idempotency-Replayed: true``); the same key with another body is 422.
* ``Authorization: Bearer <key>``: the credential's tenant scopes everything (keys, duplicates,
  reference data). An ``ingest`` key publishes as the source it was created with (``--source``;
  ``api`` without one) and a different ``X-Source-System`` is 403; only an admin may name the
  source with ``X-Source-System`` (demo loads, back-office imports; default ``api``).
* The source system: duplicates are detected per
  (tenant, source) and the events' CloudEvents ``source`` is ``/sources/<name>``. A document id
  another source of the tenant already holds is published as ``<source>:<id>`` (the answer's
  ``canonical_id``); adjustments, cancellations and reversals name the source's own ids.
* Single commands: 202 accepted, 200 ``{"status": "duplicate"}`` when the id was already
  received from that source, 422 with field paths for bad input, 404 for an unknown invoice/payment.
* Bulk commands always answer 200 with one result per item; rejected items carry field paths
  such as ``items.3.amount``.
* Labels are open: a payment ``method`` or a ``reason`` nobody listed is accepted and forwarded as
  the contract normalises it (``other`` plus the original in ``*_detail``); money is never refused
  for a label. Amounts beyond NUMERIC(18,4), ids over 128 characters and control characters in any
  id, text, header or path parameter are 422; bodies over ``COBRANZA_HTTP_MAX_BODY_BYTES`` (10 MiB)
  are 413 (``libs.runtime.http``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    HTTPException,
    Request,
    UploadFile,
    status,
)
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from libs.auth.audit import audit_note
from libs.auth.guard import current_principal
from libs.auth.principal import Principal
from libs.events.payloads.payments import PaymentReceived
from libs.events.payloads.reference import ReferenceEntity, ReferenceUpserted
from libs.events.types import Amount, CountryCode, Identifier, Text, printable_identifier
from libs.runtime.context import ServiceContext
from libs.runtime.http import PrincipalDep, TenantDep
from libs.runtime.uow import UnitOfWork
from services.ingest.adapters.orm import reference_entities
from services.ingest.domain.requests import (
    AdjustmentIn,
    CancellationIn,
    CustomerItemIn,
    CustomerUpsertIn,
    InvoiceIn,
    ReversalIn,
    StandardisationError,
)
from services.ingest.entrypoints.audit_views import stored_customer, stored_reference
from services.ingest.entrypoints.bulk_body import MAX_BULK_ITEMS, BulkBody, read_bulk
from services.ingest.entrypoints.idempotency import Command, run_command
from services.ingest.service_layer.commands import (
    ItemResult,
    NotFound,
    Outcome,
    adjust_invoice,
    cancel_invoice,
    ingest_invoices,
    ingest_payments,
    printable,
    reverse_payment,
    upsert_customer,
    upsert_customers,
    upsert_reference,
    validation_errors,
)
from services.ingest.service_layer.files import FileRejected, KindChoice, import_file

IdempotencyKey = Annotated[
    str | None, Header(description="retry-safe key: the same key and body return the original response")
]
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]+$"
"""One printable line: a source system's name is stored, compared and put in event sources."""
SourceSystem = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=100,
        pattern=PRINTABLE,
        description="the core system sending this data: admin credentials only (a key's source is its own)",
    ),
]
DocumentId = Annotated[Identifier, PathParam(description="the id as the source system sent it")]


@dataclass(frozen=True)
class Caller:
    """Who sent a command: the tenant, the core system and its optional idempotency key."""

    tenant: str
    source: str
    idempotency_key: str | None


DEFAULT_SOURCE = "api"


def source_of(principal: Principal, requested: str | None) -> str:
    """The source system a request speaks for: the key's own (an ingest key's source comes from the
    key, never from a header: naming another one is a 403); only an admin may name one (demo loads,
    back-office imports), and a key without one speaks as ``api``."""
    own = principal.source or (
        DEFAULT_SOURCE if "ingest" in principal.roles and "admin" not in principal.roles else None
    )
    if own is not None:
        if requested is not None and requested != own:
            raise HTTPException(403, detail=f"this credential publishes as source {own!r}, not {requested!r}")
        return own
    return requested or DEFAULT_SOURCE


def _caller(
    tenant: TenantDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    x_source_system: SourceSystem = None,
) -> Caller:
    if idempotency_key is not None:
        try:
            printable_identifier(idempotency_key)
        except ValueError as exc:
            raise HTTPException(
                422, detail=[{"loc": ["header", "Idempotency-Key"], "msg": str(exc), "type": "value_error"}]
            ) from None
    return Caller(
        tenant=tenant, source=source_of(principal, x_source_system), idempotency_key=idempotency_key
    )


CallerHeaders = Annotated[Caller, Depends(_caller)]


def _bulk_body_schema(item_schema: str) -> dict[str, Any]:
    """OpenAPI request body for a bulk endpoint: the items follow the single endpoint's schema."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_BULK_ITEMS,
                                "items": {"$ref": f"#/components/schemas/{item_schema}"},
                            }
                        },
                    }
                }
            },
        }
    }


class BulkResponse(BaseModel):
    accepted: int
    duplicate: int
    rejected: int
    items: list[dict[str, Any]] = Field(
        description="per item: index, status (accepted|duplicate|rejected), id, event_id, reason, errors[{path, message}]"
    )


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=300)
    active: bool = True
    parent_id: Identifier | None = Field(
        default=None, description="office: regional office; agency: parent agency"
    )
    office_id: Identifier | None = Field(default=None, description="advisor: the office they belong to")
    agency_id: Identifier | None = Field(default=None, description="advisor: the agency they work for")
    commission_rate: Amount | None = Field(default=None, ge=0, le=1, description="agency: 0.12 = 12 %")
    region: Text | None = Field(default=None, max_length=100)
    country: CountryCode | None = None
    email: Text | None = Field(default=None, max_length=320)


REFERENCE_PATHS: dict[str, ReferenceEntity] = {
    "product-lines": "product_line",
    "offices": "office",
    "advisors": "advisor",
    "agencies": "agency",
}
ReferencePath = Literal["product-lines", "offices", "advisors", "agencies"]
ALLOWED_FIELDS: dict[ReferenceEntity, set[str]] = {
    "product_line": set(),
    "office": {"parent_id", "region", "country"},
    "advisor": {"office_id", "agency_id", "email"},
    "agency": {"parent_id", "commission_rate", "region", "country", "email"},
}


def _unprocessable(path: str, message: str) -> HTTPException:
    return HTTPException(
        422,
        detail=[{"loc": ["body", *path.split(".")], "msg": message, "type": "value_error"}],
    )


def _bulk_body(results: list[ItemResult]) -> dict[str, Any]:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("accepted", "duplicate", "rejected")}
    return {**counts, "items": [r.as_dict() for r in results]}


def _single(kind: str, result: ItemResult) -> tuple[int, dict[str, Any]]:
    if result.status == "rejected":
        raise HTTPException(
            422,
            detail=[
                {"loc": ["body", *e.path.split(".")], "msg": e.message, "type": "value_error"}
                for e in result.errors
            ],
        )
    code = status.HTTP_202_ACCEPTED if result.status == "accepted" else status.HTTP_200_OK
    return code, {
        "status": result.status,
        f"{kind}_id": result.id,
        "canonical_id": result.canonical_id,
        "event_id": result.event_id,
    }


def _once_response(kind: str, key: str, outcome: Outcome) -> tuple[int, dict[str, Any]]:
    code = status.HTTP_202_ACCEPTED if outcome.status == "accepted" else status.HTTP_200_OK
    return code, {
        "status": outcome.status,
        kind: key,
        "canonical_id": outcome.canonical_id,
        "event_id": outcome.event_id,
    }


def _invalid(exc: ValidationError) -> HTTPException:
    return HTTPException(
        422,
        detail=[
            {"loc": ["body", *e.path.split(".")], "msg": e.message, "type": "value_error"}
            for e in validation_errors(exc)
        ],
    )


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/v1")

    def run(
        caller: Caller, operation: str, body: BaseModel | BulkBody[Any], command: Command
    ) -> JSONResponse:
        """Run one command under the caller's idempotency key; domain errors become 422/404."""
        if isinstance(body, BulkBody):  # a bulk body is parsed back to JSON only for a key's hash
            payload: Any = body.raw_items() if caller.idempotency_key is not None else None
        else:
            payload = body.model_dump(mode="json")
        try:
            return run_command(
                ctx,
                tenant=caller.tenant,
                source=caller.source,
                key=caller.idempotency_key,
                operation=operation,
                body=payload,
                command=command,
            )
        except StandardisationError as exc:
            raise _unprocessable(exc.field, exc.message) from None
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except ValidationError as exc:  # the contract refused what the command built from the body
            raise _invalid(exc) from None

    # --- invoices -------------------------------------------------------------------------

    @api.post(
        "/invoices",
        tags=["invoices"],
        status_code=status.HTTP_202_ACCEPTED,
        responses={200: {"description": "duplicate: already received from this source"}},
    )
    def create_invoice(
        invoice: InvoiceIn,
        caller: CallerHeaders,
    ) -> JSONResponse:
        """Issue one invoice (cobranza.invoice.issued); customer country/timezone are derived if missing."""
        return run(
            caller,
            "POST /v1/invoices",
            invoice,
            lambda uow: _single("invoice", ingest_invoices(uow, caller.source, [(0, invoice)])[0]),
        )

    @api.post(
        "/invoices:bulk",
        tags=["invoices"],
        response_model=BulkResponse,
        openapi_extra=_bulk_body_schema("InvoiceIn"),
    )
    async def create_invoices_bulk(request: Request, caller: CallerHeaders) -> JSONResponse:
        """Up to 10,000 invoices (each shaped like POST /v1/invoices); 200 with a result per item."""
        bulk = await read_bulk(request, InvoiceIn)
        return await run_in_threadpool(
            run,
            caller,
            "POST /v1/invoices:bulk",
            bulk,
            lambda uow: (200, _bulk(uow, caller.source, bulk, "invoices")),
        )

    @api.post("/invoices/{invoice_id}/adjustments", tags=["invoices"], status_code=status.HTTP_202_ACCEPTED)
    def adjust(
        invoice_id: DocumentId,
        adjustment: AdjustmentIn,
        caller: CallerHeaders,
    ) -> JSONResponse:
        """Credit note, endorsement or premium change (cobranza.invoice.adjusted); new_amount is the new total."""
        return run(
            caller,
            f"POST /v1/invoices/{invoice_id}/adjustments",
            adjustment,
            lambda uow: _once_response(
                "adjustment_id",
                adjustment.adjustment_id,
                adjust_invoice(uow, caller.source, invoice_id, adjustment),
            ),
        )

    @api.post("/invoices/{invoice_id}/cancellation", tags=["invoices"], status_code=status.HTTP_202_ACCEPTED)
    def cancel(
        invoice_id: DocumentId,
        cancellation: CancellationIn,
        caller: CallerHeaders,
    ) -> JSONResponse:
        """Cancel an invoice, e.g. the policy was cancelled (cobranza.invoice.cancelled)."""
        return run(
            caller,
            f"POST /v1/invoices/{invoice_id}/cancellation",
            cancellation,
            lambda uow: _once_response(
                "invoice_id", invoice_id, cancel_invoice(uow, caller.source, invoice_id, cancellation)
            ),
        )

    # --- payments -------------------------------------------------------------------------

    @api.post(
        "/payments",
        tags=["payments"],
        status_code=status.HTTP_202_ACCEPTED,
        responses={200: {"description": "duplicate: already received from this source"}},
    )
    def record_payment(
        payment: PaymentReceived,
        caller: CallerHeaders,
    ) -> JSONResponse:
        """Record one payment (cobranza.payment.received); account_id may be unknown."""
        return run(
            caller,
            "POST /v1/payments",
            payment,
            lambda uow: _single("payment", ingest_payments(uow, caller.source, [(0, payment)])[0]),
        )

    @api.post(
        "/payments:bulk",
        tags=["payments"],
        response_model=BulkResponse,
        openapi_extra=_bulk_body_schema("PaymentReceived"),
    )
    async def record_payments_bulk(request: Request, caller: CallerHeaders) -> JSONResponse:
        """Up to 10,000 payments; 200 with a result per item."""
        bulk = await read_bulk(request, PaymentReceived)
        return await run_in_threadpool(
            run,
            caller,
            "POST /v1/payments:bulk",
            bulk,
            lambda uow: (200, _bulk(uow, caller.source, bulk, "payments")),
        )

    @api.post("/payments/{payment_id}/reversal", tags=["payments"], status_code=status.HTTP_202_ACCEPTED)
    def reverse(
        payment_id: DocumentId,
        reversal: ReversalIn,
        caller: CallerHeaders,
    ) -> JSONResponse:
        """Bounced cheque, chargeback… (cobranza.payment.reversed)."""
        return run(
            caller,
            f"POST /v1/payments/{payment_id}/reversal",
            reversal,
            lambda uow: _once_response(
                "payment_id", payment_id, reverse_payment(uow, caller.source, payment_id, reversal)
            ),
        )

    # --- customers ------------------------------------------------------------------------

    @api.post(
        "/customers:bulk",
        tags=["customers"],
        response_model=BulkResponse,
        openapi_extra=_bulk_body_schema("CustomerItemIn"),
        operation_id="put_customers_bulk",
    )
    @api.post(
        "/customers/bulk",
        tags=["customers"],
        response_model=BulkResponse,
        openapi_extra=_bulk_body_schema("CustomerItemIn"),
        summary="Put Customers Bulk (same endpoint as /v1/customers:bulk)",
        operation_id="put_customers_bulk_alias",
    )
    async def put_customers_bulk(request: Request, caller: CallerHeaders) -> JSONResponse:
        """Up to 10,000 customers, each a PUT /v1/customers/{id} body plus its ``customer_id``;
        200 with a result per item (``canonical_id``: the customer every other service sees)."""
        bulk = await read_bulk(request, CustomerItemIn)
        return await run_in_threadpool(
            run,
            caller,
            "POST /v1/customers:bulk",  # either path: one operation, so a retry on the other replays
            bulk,
            lambda uow: (
                200,
                _bulk(uow, caller.source, bulk, "customers", lambda: ctx.ids.new("ingest|customer")),
            ),
        )

    @api.put("/customers/{customer_id}", tags=["customers"])
    def put_customer(
        customer_id: DocumentId,
        customer: CustomerUpsertIn,
        caller: CallerHeaders,
        request: Request,
    ) -> JSONResponse:
        """Upsert a customer with contact points and consent (cobranza.customer.upserted).

        ``customer_id`` is the source system's id; the answer gives the canonical id and,
        when the customer is known from another source, the rule that linked them.
        """

        note = audit_note(request)
        note.object_ids = {"source": caller.source, "source_customer_id": customer_id}
        audited = current_principal(request).human  # a machine's upsert is not audited: no read for it

        def command(uow: UnitOfWork) -> tuple[int, dict[str, Any]]:
            if audited:
                note.before = stored_customer(uow.session, uow.tenant, caller.source, customer_id)
            payload, envelope = upsert_customer(
                uow, caller.source, customer_id, customer, event_id=ctx.ids.new("ingest|customer")
            )
            note.object_ids["customer_id"] = payload.customer_id
            note.after = {"published": payload, "event_id": envelope.id}
            return 200, {
                "customer_id": payload.customer_id,
                "source_customer_id": customer_id,
                "linked_customer_ids": payload.linked_customer_ids,
                "link_rule": payload.link_rule,
                "event_id": envelope.id,
                "customer": payload.model_dump(mode="json", exclude_none=True),
            }

        return run(
            caller,
            f"PUT /v1/customers/{customer_id}",
            customer,
            command,
        )

    # --- reference data -------------------------------------------------------------------

    @api.put("/reference/{entity}/{entity_id}", tags=["reference"])
    def put_reference(
        entity: ReferencePath,
        entity_id: DocumentId,
        body: ReferenceIn,
        caller: CallerHeaders,
        request: Request,
    ) -> JSONResponse:
        """Upsert a product line (ramo), office, advisor or agency (cobranza.reference.upserted).

        Parents must exist first: an advisor's office_id/agency_id, an office's or agency's parent_id.
        """
        entity_type = REFERENCE_PATHS[entity]
        given = {k for k, v in body.model_dump(exclude={"name", "active"}).items() if v is not None}
        for extra in sorted(given - ALLOWED_FIELDS[entity_type]):
            raise _unprocessable(extra, f"not a field of {entity_type}")
        try:
            payload = ReferenceUpserted(entity_type=entity_type, entity_id=entity_id, **body.model_dump())
        except ValidationError as exc:
            raise _invalid(exc) from None

        note = audit_note(request)
        note.object_ids = {"entity_type": entity_type, "source": caller.source}
        audited = current_principal(request).human

        def command(uow: UnitOfWork) -> tuple[int, dict[str, Any]]:
            if audited:
                note.before = stored_reference(uow.session, uow.tenant, entity_type, entity_id)
            envelope = upsert_reference(uow, caller.source, payload, event_id=ctx.ids.new("ingest|reference"))
            note.after = {"published": payload, "event_id": envelope.id}
            return 200, {**payload.model_dump(mode="json", exclude_none=True), "event_id": envelope.id}

        return run(
            caller,
            f"PUT /v1/reference/{entity}/{entity_id}",
            body,
            command,
        )

    @api.get("/reference/{entity}", tags=["reference"])
    def list_reference(entity: ReferencePath, tenant: TenantDep) -> list[dict[str, Any]]:
        with ctx.sessions() as session:
            rows = session.execute(
                select(reference_entities.c.data)
                .where(
                    reference_entities.c.tenant_id == tenant,
                    reference_entities.c.entity_type == REFERENCE_PATHS[entity],
                )
                .order_by(reference_entities.c.entity_id)
            ).scalars()
            return list(rows)

    @api.get("/reference/{entity}/{entity_id}", tags=["reference"])
    def get_reference(entity: ReferencePath, entity_id: DocumentId, tenant: TenantDep) -> dict[str, Any]:
        with ctx.sessions() as session:
            data = session.execute(
                select(reference_entities.c.data).where(
                    reference_entities.c.tenant_id == tenant,
                    reference_entities.c.entity_type == REFERENCE_PATHS[entity],
                    reference_entities.c.entity_id == entity_id,
                )
            ).scalar_one_or_none()
        if data is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {entity} {entity_id!r}")
        result: dict[str, Any] = data
        return result

    # --- files ----------------------------------------------------------------------------

    @api.post("/files", tags=["files"])
    def upload_file(
        tenant: TenantDep,
        principal: PrincipalDep,
        file: Annotated[UploadFile, File(description="CSV, xlsx, camt.053 XML or MT940")],
        source: Annotated[
            str | None,
            Form(
                min_length=1,
                max_length=100,
                pattern=PRINTABLE,
                description="mapping name; defaults to X-Source-System",
            ),
        ] = None,
        kind: Annotated[KindChoice, Form()] = "auto",
        x_source_system: SourceSystem = None,
    ) -> dict[str, Any]:
        """Import a file like ``cobranza ingest file`` and return the per-row report.

        Rows are committed 1,000 at a time; for very large files prefer the CLI.
        """
        chosen = source_of(principal, source or x_source_system)
        suffix = Path(file.filename or "upload").suffix
        with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            shutil.copyfileobj(file.file, tmp)
            tmp.flush()
            try:
                summary = import_file(
                    ctx, Path(tmp.name), source=chosen, kind=kind, keep_results=True, tenant=tenant
                )
            except (FileRejected, FileNotFoundError) as exc:
                raise _unprocessable("file", str(exc)) from None
        summary.file = file.filename or summary.file
        return summary.as_dict()

    return api


def _bulk(
    uow: UnitOfWork,
    source: str,
    bulk: BulkBody[Any],
    kind: str,
    new_event_id: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """Each item validated on its own (``read_bulk``); the valid ones go through, the others are
    reported by index."""
    results: dict[int, ItemResult] = {}
    invoices: list[tuple[int, InvoiceIn]] = []
    payments: list[tuple[int, PaymentReceived]] = []
    people: list[tuple[int, str, CustomerItemIn]] = []
    id_field = {"invoices": "invoice_id", "payments": "payment_id", "customers": "customer_id"}[kind]
    for index, item in enumerate(bulk.checked):
        if isinstance(item, ValidationError):
            raw = bulk.raw_items()[index]
            ident = raw.get(id_field) if isinstance(raw, dict) else None
            results[index] = ItemResult(
                index, "rejected", printable(ident) if ident else None, errors=validation_errors(item)
            )
        elif isinstance(item, InvoiceIn):
            invoices.append((index, item))
        elif isinstance(item, PaymentReceived):
            payments.append((index, item))
        elif isinstance(item, CustomerItemIn):
            people.append((index, item.customer_id, item))
    accepted = ingest_invoices(uow, source, invoices) + ingest_payments(uow, source, payments)
    if people:
        assert new_event_id is not None
        accepted += upsert_customers(uow, source, people, new_event_id)
    for result in accepted:
        results[result.index] = result
    ordered = [results[i] for i in range(len(bulk.checked))]
    for result in ordered:
        result.errors = [type(e)(f"items.{result.index}.{e.path}", e.message) for e in result.errors]
    return _bulk_body(ordered)
