"""The tenant revision on a database with books written before tenants existed: nothing is lost.

Rows land in the default tenant, accounts with invoices are known (payment-only ones are not),
parked payments without account are indexed by their remittance keys, so the next invoice a
remittance names places the payment; and the revision downgrades and upgrades again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, text

from libs.events.envelope import Envelope
from libs.events.registry import model_for
from libs.platform.registry import load_spec
from libs.runtime.clock import SimulatedClock
from libs.runtime.context import ServiceContext
from libs.runtime.db import make_engine
from libs.runtime.migrations import upgrade
from libs.runtime.transport.memory import InMemoryPlatform, MemoryBroker
from services.reconciliation.adapters.orm import accounts, payments, suspense_references

BEFORE_TENANTS = "c8855fae0373"
NOW = "2026-01-05 10:00:00+00"

OLD_BOOKS = f"""
INSERT INTO reconciliation.accounts (account_id, customer_id, customer_name, updated_at) VALUES
  ('A1', 'C1', 'Ana', '{NOW}'), ('A9', NULL, NULL, '{NOW}');
INSERT INTO reconciliation.invoices (invoice_id, account_id, currency, amount, open_amount, issued_on, due_on,
  policy_number, reference_key, policy_key, status, updated_at) VALUES
  ('I1', 'A1', 'COP', 100, 40, '2026-01-01', '2026-01-20', NULL, 'i1', NULL, 'open', '{NOW}');
INSERT INTO reconciliation.payments (payment_id, account_id, currency, amount, received_on, method, reference,
  payer_name, status, rule, suspense_reason, created_at, updated_at) VALUES
  ('P1', 'A1', 'COP', 60, '2026-01-02', 'cash', 'I1', NULL, 'applied', 'reference', NULL, '{NOW}', '{NOW}'),
  ('P2', NULL, 'COP', 75, '2026-01-03', 'other', 'PAGO POLIZA AUTO-77', 'ANA', 'suspense', NULL,
   'unidentified_account', '{NOW}', '{NOW}');
INSERT INTO reconciliation.allocations (payment_id, invoice_id, account_id, currency, amount, rule, applied_on,
  created_at) VALUES ('P1', 'I1', 'A1', 'COP', 60, 'reference', '2026-01-02', '{NOW}');
INSERT INTO reconciliation.audit (at, actor, action, reason) VALUES ('{NOW}', 'ops', 'note', 'before tenants');
"""


def test_books_written_before_tenants_survive_the_revision(
    empty_database: str, migrate: Callable[[str, str, str, str], None]
) -> None:
    spec = load_spec("reconciliation")
    upgrade(spec, empty_database, BEFORE_TENANTS)
    admin = make_engine(empty_database, pool_size=1)
    try:
        with admin.begin() as conn:
            conn.execute(text(OLD_BOOKS))
    finally:
        admin.dispose()
    upgrade(spec, empty_database)
    migrate(empty_database, "reconciliation", "downgrade", BEFORE_TENANTS)
    migrate(empty_database, "reconciliation", "upgrade", "head")

    clock = SimulatedClock(datetime(2026, 1, 6, tzinfo=UTC))
    ctx = ServiceContext.create(spec, empty_database, clock=clock, pool_size=1)
    try:
        with ctx.sessions() as session:
            known = dict(session.execute(select(accounts.c.account_id, accounts.c.known)).all())
            tenants = set(session.execute(select(payments.c.tenant_id)).scalars())
            claimed = dict(
                session.execute(select(payments.c.payment_id, payments.c.claimed_account_id)).all()
            )
            keys = set(session.execute(select(suspense_references.c.reference_key)).scalars())
        assert known == {"A1": True, "A9": False}
        assert tenants == {"default"}
        assert claimed == {"P1": "A1", "P2": None}
        assert {"auto77", "polizaauto77"} <= keys

        platform = InMemoryPlatform([ctx], MemoryBroker(clock), clock)
        data = {
            "invoice_id": "I7",
            "account_id": "A7",
            "customer": {
                "customer_id": "C7",
                "name": "Ana",
                "kind": "person",
                "country": "CO",
                "timezone": "America/Bogota",
            },
            "amount": "75",
            "currency": "COP",
            "issued_on": "2026-01-04",
            "due_on": "2026-01-30",
            "product_line": "auto",
            "policy_number": "AUTO-77",
        }
        platform.publish(
            Envelope(
                id="e1",
                source="/cobranza/ingest",
                type="cobranza.invoice.issued",
                time=datetime(2026, 1, 6, tzinfo=UTC),
                subject="A7",
                data=data,
            ),
            model_for("cobranza.invoice.issued").topic,
        )
        platform.run_until_quiet()
        with ctx.sessions() as session:
            placed = session.execute(
                select(payments.c.status, payments.c.account_id, payments.c.rule).where(
                    payments.c.payment_id == "P2"
                )
            ).one()
            p1 = session.execute(select(payments.c.status).where(payments.c.payment_id == "P1")).scalar_one()
        assert tuple(placed) == ("applied", "A7", "normalized_reference")
        assert p1 == "applied"
    finally:
        ctx.dispose()
