"""What aging knows of each invoice's money, folded from the invoices and allocations topics.

The two topics are consumed independently, so an adjustment can arrive before an
allocation reconciliation made earlier (an adjustment that frees no cash emits
nothing on the allocations topic). aging therefore keeps two facts apart:

* the invoice's ``amount``, from the invoices topic (issued, then each adjustment);
* what is ``settled`` on it (cash plus write-offs), from the allocations topic: the
  ``invoice_settled_after`` of the latest allocation or reopening that names it,
  latest by the event's time (a tie goes to the later delivery, since one account's
  allocations share a topic key and arrive in order), so an older event delivered
  late never overwrites a newer one.

The open amount is ``max(amount - settled, 0)`` whatever order they came in (pay 30
on 100, adjust to 80: 50 either way). An allocation from before reconciliation sent
``invoice_settled_after`` names only the open amount after it: what it settled is
taken as ``amount - open`` on the amount known at that moment (the first-wave rule).
A cancelled invoice owes nothing. An allocation that overtakes its invoice waits as
an :class:`EarlyAmount` until ``invoice.issued`` brings the amount.

Pure: a :class:`Ledger` over the rows a batch read, changed in event order; the
service layer writes what changed back set-based.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

ZERO = Decimal(0)


class Rejected(ValueError):
    """An invoice event aging cannot apply; the message starts with the field path."""


def open_amount(amount: Decimal, settled: Decimal) -> Decimal:
    """What an invoice of ``amount`` still owes once ``settled`` is paid or written off."""
    return max(ZERO, amount - settled)


@dataclass(frozen=True)
class Invoice:
    """One invoice as aging stores it (``aging.invoices``), minus the DPD the re-age keeps."""

    invoice_id: str
    account_id: str
    amount: Decimal
    settled: Decimal
    settled_at: datetime | None
    currency: str
    due_on: date
    timezone: str
    product_line: str
    policy_number: str | None
    grace_days: int | None
    status: str = "open"

    @property
    def open_amount(self) -> Decimal:
        return open_amount(self.amount, self.settled) if self.status == "open" else ZERO


@dataclass(frozen=True)
class EarlyAmount:
    """An allocation that named an invoice aging has not seen issued yet."""

    invoice_id: str
    account_id: str | None
    open_amount: Decimal
    settled: Decimal | None
    at: datetime | None
    payment_id: str

    def settled_on(self, amount: Decimal) -> Decimal:
        return self.settled if self.settled is not None else amount - self.open_amount


@dataclass(frozen=True)
class Settlement:
    """One invoice named by an allocation or reopening: what reconciliation says it stands at after it."""

    invoice_id: str
    open_after: Decimal
    settled_after: Decimal | None


def later(at: datetime, than: datetime | None) -> bool:
    """Whether an allocation event at ``at`` is reconciliation's newer word than one at ``than``."""
    return than is None or at >= than


def last_mentions(settlements: Iterable[Settlement]) -> list[Settlement]:
    """One event may name an invoice twice (paid directly and through credit): its last mention stands."""
    latest: dict[str, Settlement] = {}
    for s in settlements:
        latest.pop(s.invoice_id, None)
        latest[s.invoice_id] = s
    return list(latest.values())


@dataclass
class Ledger:
    """The invoices and early amounts a batch touches, as read, then as its events leave them."""

    invoices: dict[str, Invoice]
    early: dict[str, EarlyAmount]
    early_read: frozenset[str] = field(default_factory=frozenset)
    early_changed: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, invoices: Iterable[Invoice], early: Iterable[EarlyAmount]) -> Ledger:
        early_by_id = {e.invoice_id: e for e in early}
        return cls({i.invoice_id: i for i in invoices}, early_by_id, frozenset(early_by_id))

    def issue(self, invoice: Invoice) -> Invoice | None:
        """A new invoice takes what an early allocation settled; a re-sent one changes nothing (None)."""
        early = self.early.pop(invoice.invoice_id, None)
        if invoice.invoice_id in self.invoices:
            return None
        if early is not None:
            invoice = replace(invoice, settled=early.settled_on(invoice.amount), settled_at=early.at)
        self.invoices[invoice.invoice_id] = invoice
        return invoice

    def known(self, invoice_id: str, path: str = "data.invoice_id") -> Invoice:
        found = self.invoices.get(invoice_id)
        if found is None:
            raise Rejected(f"{path}: unknown invoice {invoice_id!r}")
        return found

    def adjust(self, invoice_id: str, currency: str, new_amount: Decimal, new_due_on: date | None) -> Invoice:
        """The billed amount changes; what was settled stays settled."""
        current = self.known(invoice_id)
        if current.currency != currency:
            raise Rejected(f"data.currency: invoice {invoice_id} is in {current.currency}, not {currency}")
        if current.status != "open":
            raise Rejected(f"data.invoice_id: invoice {invoice_id} is {current.status}")
        changed = replace(current, amount=new_amount, due_on=new_due_on or current.due_on)
        self.invoices[invoice_id] = changed
        return changed

    def cancel(self, invoice_id: str) -> Invoice:
        changed = replace(self.known(invoice_id), status="cancelled")
        self.invoices[invoice_id] = changed
        return changed

    def settle(
        self, settlements: Sequence[Settlement], at: datetime, account_id: str | None, payment_id: str
    ) -> list[Invoice]:
        """Apply one allocation event; the known invoices it names come back (changed or not)."""
        named: list[Invoice] = []
        for s in last_mentions(settlements):
            current = self.invoices.get(s.invoice_id)
            if current is None:
                waiting = self.early.get(s.invoice_id)
                if waiting is None or later(at, waiting.at):
                    self.early[s.invoice_id] = EarlyAmount(
                        s.invoice_id, account_id, s.open_after, s.settled_after, at, payment_id
                    )
                    self.early_changed.add(s.invoice_id)
                continue
            if later(at, current.settled_at):
                settled = current.amount - s.open_after if s.settled_after is None else s.settled_after
                current = replace(current, settled=settled, settled_at=at)
                self.invoices[s.invoice_id] = current
            named.append(current)
        return named

    def early_gone(self) -> list[str]:
        """Early amounts read at the start that an issued invoice has taken since."""
        return sorted(self.early_read - set(self.early))

    def early_new(self) -> list[EarlyAmount]:
        """Early amounts this batch set and no invoice has taken yet."""
        return [self.early[i] for i in sorted(self.early_changed) if i in self.early]
