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

``cobranza privacy erase CUSTOMER [--tenant T] [--reason TEXT]`` (habeas data, Ley 1581 de 2012;
GDPR art. 17) erases the customer's personal data everywhere, keeping the money facts:

1. ingest, in ONE transaction: a tombstone per erased customer id (a re-sent old record is refused
   from then on), the contact data its customer links keep, its stored responses, its own event
   log rows, and ``cobranza.customer.erased`` in its outbox (the normal relay publishes it, after
   the customer's earlier upserts on the same key of the compacted customers topic);
2. every other service, when it consumes that event: its ``service_layer/privacy.py`` handler
   removes or anonymises what identifies the person and scrubs its own event log rows
   (``scrub_event_log``, shared here);
3. the audit log: the customer's earlier rows erased (``libs.auth.audit.erase_personal_data``), then
   an ``auth.audit_log`` row (actor: the admin key of the state dir, else the OS user; before: the
   counts, never the data).

docs/privacy.md says what each service erases and what it keeps.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from sqlalchemy import ARRAY, String, Table, any_, bindparam, or_, select, text
from sqlalchemy.orm import Session

from libs.runtime.db import make_engine
from libs.runtime.service import ServiceSpec
from libs.runtime.tables import RuntimeTables

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
    specs: Sequence[ServiceSpec], database_url: str, tenant: str, customer_id: str | Sequence[str]
) -> list[str]:
    """Every account any service links to the customer (or to any of several customer ids)."""
    ids = [customer_id] if isinstance(customer_id, str) else sorted(set(customer_id))
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
                                t.c.tenant_id == tenant,
                                t.c.customer_id == any_(bindparam("ids", ids, type_=ARRAY(String))),
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


# --- erasure: the event log ---------------------------------------------------------------

ERASED = "erased"
"""What a required personal field becomes (a customer's ``name``): the record still validates."""

PERSONAL_KEYS = frozenset(
    {
        "email",
        "phone",
        "address",
        "document_id",
        "payer_name",
        "reference",
        "method_detail",
        "reason_detail",
        "note",
        "detail",
        "recipient",
        "to",
        "body",
        "contact_points",
    }
)
"""Fields that identify a person, or free text that can carry a name, e-mail or phone, wherever they
appear in an event: dropped (each is optional in its contract)."""

CUSTOMER_KEYS = {"name": ERASED}
"""Required fields of an object that describes a customer (one with a ``customer_id``): replaced."""


def scrub(value: Any) -> Any:
    """``value`` (decoded JSON) without personal data: PERSONAL_KEYS dropped at any depth, a customer
    object's name replaced; ids, amounts, dates and labels kept."""
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if not isinstance(value, dict):
        return value
    customer = "customer_id" in value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in PERSONAL_KEYS:
            continue
        if customer and key in CUSTOMER_KEYS:
            out[key] = CUSTOMER_KEYS[key]
            continue
        out[key] = scrub(item)
    return out


ERASED_RECORD = json.dumps({"erased": "habeas_data"}).encode()
"""What a stored record that is not JSON (a malformed inbound record kept as a dead letter) becomes."""


def scrub_record(raw: bytes) -> bytes:
    """An outbox row's value (a CloudEvent, a dead letter's record) without personal data."""
    try:
        decoded = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return ERASED_RECORD
    if not isinstance(decoded, dict | list):
        return ERASED_RECORD
    return json.dumps(scrub(decoded), ensure_ascii=False, separators=(",", ":")).encode()


def _needles(ids: Iterable[str]) -> list[str]:
    return sorted({i for i in ids if i})


def scrub_event_log(
    session: Session, tables: RuntimeTables, tenant: str, ids: Iterable[str]
) -> dict[str, int]:
    """Scrub one service's own event log rows about ``ids`` (customer and account ids), in place.

    Outbox rows (published events, pending ones and dead letters) whose key is one of the ids or
    whose record names one of them as a JSON string, and timers keyed by or carrying one: each
    read with one statement, rewritten with one. The inbox holds ids only (nothing to scrub). A
    row keeps its id, type, topic, key and headers, so the relay and a republish still work (the
    scrubbed record still validates: only optional fields are dropped). Returns rows changed."""
    needles = _needles(ids)
    if not needles:
        return {"outbox": 0, "timers": 0}
    quoted = [json.dumps(n, ensure_ascii=False).encode() for n in needles]
    outbox, timers = tables.outbox.fullname, tables.timers.fullname
    rows = session.execute(
        text(
            f"""
            SELECT id, value FROM {outbox}
             WHERE tenant_id = :tenant
               AND (key = ANY(CAST(:ids AS text[]))
                    OR EXISTS (SELECT 1 FROM unnest(CAST(:quoted AS bytea[])) AS q(n)
                                WHERE position(q.n IN value) > 0))
             ORDER BY id
            """
        ),
        {"tenant": tenant, "ids": needles, "quoted": quoted},
    ).all()
    changed = [(r.id, new) for r in rows if (new := scrub_record(bytes(r.value))) != bytes(r.value)]
    if changed:
        session.execute(
            text(
                f"""
                UPDATE {outbox} AS o SET value = v.value
                  FROM unnest(CAST(:ids AS bigint[]), CAST(:values AS bytea[])) AS v(id, value)
                 WHERE o.tenant_id = :tenant AND o.id = v.id
                """
            ),
            {"tenant": tenant, "ids": [i for i, _ in changed], "values": [v for _, v in changed]},
        )
    patterns = [f"%{json.dumps(n, ensure_ascii=False)}%" for n in needles]
    due = session.execute(
        text(
            f"""
            SELECT name, key, data FROM {timers}
             WHERE tenant_id = :tenant AND (key = ANY(CAST(:ids AS text[]))
                                            OR CAST(data AS text) LIKE ANY(CAST(:patterns AS text[])))
            """
        ),
        {"tenant": tenant, "ids": needles, "patterns": patterns},
    ).all()
    rewritten = [{"name": r.name, "key": r.key, "data": new} for r in due if (new := scrub(r.data)) != r.data]
    if rewritten:
        session.execute(
            text(
                f"""
                UPDATE {timers} AS t SET data = v.data
                  FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(name text, key text, data jsonb)
                 WHERE t.tenant_id = :tenant AND t.name = v.name AND t.key = v.key
                """
            ),
            {"tenant": tenant, "rows": json.dumps(rewritten, ensure_ascii=False)},
        )
    return {"outbox": len(changed), "timers": len(rewritten)}


def erased_ids(events: Sequence[Any]) -> tuple[list[str], list[str]]:
    """(customer ids, account ids) named by a batch of ``cobranza.customer.erased`` events."""
    customers = sorted({e.payload.customer_id for e in events})
    accounts = sorted({a for e in events for a in e.payload.account_ids})
    return customers, accounts


# --- erasure: the command ----------------------------------------------------------------


class UnknownCustomer(LookupError):
    pass


def _actor(database_url: str) -> tuple[str, str, str]:
    """(actor, actor kind, role) of the CLI: the state dir's admin key when it verifies, else the OS user."""
    from datetime import UTC

    from libs.auth.keys import verify_key
    from libs.platform.auth_cli import ADMIN_KEY_FILE
    from libs.runtime.settings import PlatformSettings

    key_file = PlatformSettings().state_dir / ADMIN_KEY_FILE
    if key_file.is_file():
        engine = make_engine(database_url, service="auth", pool_size=1)
        try:
            with engine.connect() as conn:
                principal = verify_key(conn, key_file.read_text().strip(), datetime.now(UTC))
        finally:
            engine.dispose()
        if principal is not None and "admin" in principal.roles:
            return principal.subject, principal.kind, "admin"
    return f"os:{getpass.getuser()}", "cli", "admin"


def _audit(
    database_url: str,
    tenant: str,
    customer_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    erased_ids: Sequence[str] = (),
    erased_accounts: Sequence[str] = (),
) -> int:
    """Erase the subject from the audit log (``libs.auth.audit.erase_personal_data``: the one change the
    append-only table accepts), then write this erasure's own row, in one transaction. Returns the
    audit rows erased."""
    from datetime import UTC

    from sqlalchemy import insert

    from libs.auth.audit import erase_personal_data
    from libs.auth.migrations.upgrade import upgrade_auth
    from libs.auth.orm import audit_log

    upgrade_auth(database_url)
    actor, kind, role = _actor(database_url)
    engine = make_engine(database_url, service="auth", pool_size=1)
    try:
        with engine.begin() as conn:
            erased = erase_personal_data(conn, tenant, list(erased_ids), list(erased_accounts))
            conn.execute(
                insert(audit_log).values(
                    tenant_id=tenant,
                    at=datetime.now(UTC),
                    actor=actor,
                    actor_kind=kind,
                    role=role,
                    service="ingest",
                    method="CLI",
                    route="privacy.erase",
                    path=f"cobranza privacy erase {customer_id}"[:2000],
                    object_ids={"customer_id": customer_id},
                    before=before,
                    after=after,
                    status=0,
                )
            )
    finally:
        engine.dispose()
    return erased


def erase_customer(
    specs: Sequence[ServiceSpec],
    database_url: str,
    tenant: str,
    customer_id: str,
    *,
    reason: str | None = None,
    audit: bool = True,
    context: Any = None,
) -> dict[str, Any]:
    """Erase CUSTOMER (and the customer ids linked to it) everywhere; UnknownCustomer if nobody knows it.

    ``context``: ingest's ServiceContext when the caller runs one (the in-memory platform), else one is
    opened on ``database_url``. What the other services hold is found through their own engines
    (``customer_accounts``), so ``account_ids`` covers accounts only they link to the customer."""
    from libs.runtime.context import ServiceContext
    from services.ingest.service_layer import privacy as ingest_privacy

    ingest = next(s for s in specs if s.name == "ingest")
    ctx = context or ServiceContext.create(ingest, database_url, pool_size=1)
    try:
        with ctx.unit_of_work(tenant=tenant) as uow:
            known = ingest_privacy.known_customer(uow, customer_id)
        if known is None:
            raise UnknownCustomer(f"no customer {customer_id!r} in tenant {tenant!r}")
        accounts = set(known.account_ids) | set(
            customer_accounts(specs, database_url, tenant, known.customer_ids)
        )
        before = _counts(specs, database_url, tenant, known.customer_ids, sorted(accounts))
        with ctx.unit_of_work(tenant=tenant) as uow:
            done = ingest_privacy.erase(uow, known, sorted(accounts), reason=reason)
    finally:
        if context is None:
            ctx.dispose()
    services = sorted(s.name for s in specs if "cobranza.customer.erased" in s.batch_handlers)
    out: dict[str, Any] = {
        "tenant": tenant,
        "customer_id": customer_id,
        "customer_ids": known.customer_ids,
        "account_ids": sorted(accounts),
        "already_erased_at": known.erased_at.isoformat() if known.erased_at else None,
        "event_id": done.event_id,
        "ingest": done.changed,
        "services": services,
        "before": before,
    }
    if audit:
        out["audit_rows_erased"] = _audit(
            database_url,
            tenant,
            customer_id,
            before={"rows": before, "accounts": len(accounts)},
            after={"event_id": done.event_id, "services": services, "ingest": done.changed},
            erased_ids=sorted({*known.customer_ids, *(sid for _, sid in known.links)}),
            erased_accounts=sorted(accounts),
        )
    return out


def _counts(
    specs: Sequence[ServiceSpec],
    database_url: str,
    tenant: str,
    customer_ids: Sequence[str],
    accounts: list[str],
) -> dict[str, int]:
    """Rows per service that hold the customer or its accounts: the audit's ``before`` (counts, not data)."""
    counts: dict[str, int] = {}
    for spec in specs:
        engine = make_engine(database_url, service=spec.name, pool_size=1)
        total = 0
        try:
            with engine.connect() as conn:
                for t in _customer_tables(spec):
                    keys = []
                    if "customer_id" in t.c:
                        keys.append(
                            t.c.customer_id == any_(bindparam("c", list(customer_ids), type_=ARRAY(String)))
                        )
                    if "account_id" in t.c:
                        keys.append(t.c.account_id == any_(bindparam("a", accounts, type_=ARRAY(String))))
                    from sqlalchemy import func

                    total += int(
                        conn.execute(
                            select(func.count()).select_from(t).where(t.c.tenant_id == tenant, or_(*keys))
                        ).scalar_one()
                    )
        finally:
            engine.dispose()
        counts[spec.name] = total
    return counts


@privacy_app.command("erase")
def erase_command(
    customer: Annotated[str, typer.Argument(help="the canonical customer id")],
    tenant: Annotated[str, typer.Option(help="the tenant that holds the customer")] = "default",
    reason: Annotated[str | None, typer.Option(help="why (kept in the tombstone and the audit log)")] = None,
) -> None:
    """Erase CUSTOMER's personal data in every service (habeas data); money facts stay. Prints JSON."""
    from libs.platform.auth_cli import platform_database_url
    from libs.platform.registry import available_specs
    from libs.runtime.settings import PlatformSettings

    url = platform_database_url(PlatformSettings())
    try:
        done = erase_customer(available_specs(), url, tenant, customer, reason=reason)
    except UnknownCustomer as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(done, indent=2, sort_keys=True))


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


__all__ = [
    "UnknownCustomer",
    "customer_accounts",
    "erase_customer",
    "erased_ids",
    "export_customer",
    "privacy_app",
    "scrub",
    "scrub_event_log",
    "scrub_record",
]
