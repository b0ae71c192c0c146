"""What operators do by hand: apply a suspense payment to an account. Every action is audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from libs.runtime.uow import UnitOfWork
from services.reconciliation.adapters import repository as repo
from services.reconciliation.adapters.orm import accounts, audit
from services.reconciliation.domain.matching import apply_manually
from services.reconciliation.domain.model import Application, IncomingPayment
from services.reconciliation.service_layer.handlers import emit_applied


class CommandRejected(ValueError):
    """The request is well-formed but the books say no; ``field`` is the offending body field."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ApplySuspense:
    payment_id: str
    account_id: str
    invoice_id: str | None
    reason: str
    user: str


def record_audit(
    uow: UnitOfWork,
    *,
    user: str,
    action: str,
    reason: str,
    payment_id: str | None = None,
    account_id: str | None = None,
    invoice_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    uow.session.execute(
        audit.insert().values(
            tenant_id=uow.tenant,
            at=uow.now(),
            actor=user,
            action=action,
            reason=reason,
            payment_id=payment_id,
            account_id=account_id,
            invoice_id=invoice_id,
            details=details or {},
        )
    )


def _not_in_suspense(payment_id: str, status: str) -> CommandRejected:
    return CommandRejected("payment_id", f"payment {payment_id!r} is {status}, not in suspense", 409)


def apply_suspense(cmd: ApplySuspense, uow: UnitOfWork) -> Application:
    """Move a suspense payment onto an account: the chosen invoice first, then oldest first, then credit.

    Locks are taken as the handlers take them (account, then payment), so an operator and a
    worker placing the same payment never deadlock: whoever comes second sees it applied (409).
    """
    session, tenant = uow.session, uow.tenant
    seen = repo.payment_row(session, tenant, cmd.payment_id)
    if seen is None:
        raise CommandRejected("payment_id", f"no payment {cmd.payment_id!r}", status=404)
    if seen.status != "suspense":
        raise _not_in_suspense(cmd.payment_id, seen.status)
    known = session.execute(
        select(accounts.c.account_id).where(
            accounts.c.tenant_id == tenant, accounts.c.account_id == cmd.account_id, accounts.c.known
        )
    ).first()
    if known is None:
        raise CommandRejected("account_id", f"unknown account {cmd.account_id!r}")
    repo.lock_accounts(session, tenant, [cmd.account_id])
    row = repo.payment_row(session, tenant, cmd.payment_id, lock=True)
    assert row is not None
    if row.status != "suspense":
        raise _not_in_suspense(cmd.payment_id, row.status)
    open_invoices = repo.account_invoices(session, tenant, [cmd.account_id], currency=row.currency)
    if cmd.invoice_id is not None and not any(
        i.invoice_id == cmd.invoice_id and i.is_open for i in open_invoices
    ):
        raise CommandRejected(
            "invoice_id",
            f"{cmd.invoice_id!r} is not an open {row.currency} invoice of account {cmd.account_id!r}",
        )
    incoming = IncomingPayment(
        row.payment_id, cmd.account_id, row.currency, row.amount, row.received_on, row.reference
    )
    application = apply_manually(incoming, open_invoices, cmd.invoice_id)
    applied_on = max(uow.now().date(), row.received_on)
    repo.persist_application(session, tenant, application, applied_on, row.received_on, uow.now())
    repo.leave_suspense(session, tenant, [application], uow.now())
    record_audit(
        uow,
        user=cmd.user,
        action="suspense.apply",
        reason=cmd.reason,
        payment_id=cmd.payment_id,
        account_id=cmd.account_id,
        invoice_id=cmd.invoice_id,
        details={
            "amount": format(row.amount, "f"),
            "currency": row.currency,
            "allocations": [
                {"invoice_id": a.invoice_id, "amount": format(a.amount, "f")} for a in application.allocations
            ],
            "credit_created": format(application.credit_created, "f"),
        },
    )
    emit_applied(uow, application, applied_on)
    return application
