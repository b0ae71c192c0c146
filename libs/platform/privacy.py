"""Habeas data (Ley 1581 de 2012, GDPR-style access): everything the platform holds on one customer.

``cobranza privacy export CUSTOMER [--tenant T]`` prints, as JSON, every row every service keeps
about the customer: each service's schema is read through that service's own engine (its login or
role, never a superuser view), and the rows are found by the ORM metadata the service declares, so a
table added later is exported without anyone remembering to list it:

1. the customer's accounts: the ``account_id`` of every row, in any service, whose ``customer_id``
   is the customer (ingest's customer links, reconciliation's, segmentation's, strategy's accounts);
2. per service and table: the rows of the tenant whose ``customer_id`` is the customer or whose
   ``account_id`` is one of those accounts (one ``= ANY(:ids)`` query per table).

The runtime's own tables (inbox, outbox, timers) are the event log, not a record about the person:
they are left out of the export.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from sqlalchemy import ARRAY, String, Table, any_, bindparam, or_, select

from libs.runtime.db import make_engine
from libs.runtime.service import ServiceSpec

privacy_app = typer.Typer(help="Personal data: what the platform holds on a customer (habeas data)")


def _runtime_tables(spec: ServiceSpec) -> set[str]:
    tables = spec.tables
    return {t.fullname for t in vars(tables).values() if isinstance(t, Table)}


def _customer_tables(spec: ServiceSpec) -> list[Table]:
    runtime = _runtime_tables(spec)
    return [
        t
        for t in spec.metadata.sorted_tables
        if t.fullname not in runtime and "tenant_id" in t.c and ("customer_id" in t.c or "account_id" in t.c)
    ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return value


def customer_accounts(
    specs: Sequence[ServiceSpec], database_url: str, tenant: str, customer_id: str
) -> list[str]:
    found: set[str] = set()
    for spec in specs:
        tables = [t for t in _customer_tables(spec) if "customer_id" in t.c and "account_id" in t.c]
        if not tables:
            continue
        engine = make_engine(database_url, service=spec.name, pool_size=1)
        try:
            with engine.connect() as conn:
                for t in tables:
                    found.update(
                        conn.execute(
                            select(t.c.account_id).where(
                                t.c.tenant_id == tenant, t.c.customer_id == customer_id
                            )
                        ).scalars()
                    )
        finally:
            engine.dispose()
    return sorted(a for a in found if a is not None)


def export_customer(
    specs: Sequence[ServiceSpec], database_url: str, tenant: str, customer_id: str
) -> dict[str, Any]:
    """``{"tenant", "customer_id", "account_ids", "services": {svc: {table: [rows]}}}``."""
    accounts = customer_accounts(specs, database_url, tenant, customer_id)
    services: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for spec in specs:
        engine = make_engine(database_url, service=spec.name, pool_size=1)
        held: dict[str, list[dict[str, Any]]] = {}
        try:
            with engine.connect() as conn:
                for t in _customer_tables(spec):
                    keys = []
                    if "customer_id" in t.c:
                        keys.append(t.c.customer_id == customer_id)
                    if "account_id" in t.c:
                        keys.append(t.c.account_id == any_(bindparam("ids", accounts, type_=ARRAY(String))))
                    rows = conn.execute(select(t).where(t.c.tenant_id == tenant, or_(*keys))).mappings()
                    found = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
                    if found:
                        held[t.name] = found
        finally:
            engine.dispose()
        services[spec.name] = held
    return {"tenant": tenant, "customer_id": customer_id, "account_ids": accounts, "services": services}


@privacy_app.command("export")
def export_command(
    customer: Annotated[str, typer.Argument(help="the canonical customer id")],
    tenant: Annotated[str, typer.Option(help="the tenant that holds the customer")] = "default",
) -> None:
    """Print (JSON) everything every service holds about CUSTOMER."""
    from libs.platform.auth_cli import platform_database_url
    from libs.platform.registry import available_specs
    from libs.runtime.settings import PlatformSettings

    url = platform_database_url(PlatformSettings())
    typer.echo(
        json.dumps(export_customer(available_specs(), url, tenant, customer), indent=2, sort_keys=True)
    )


__all__ = ["customer_accounts", "export_customer", "privacy_app"]
