"""A batch's books in memory: every event of the batch applied in turn, as one at a time would.

The service layer loads, under lock, everything a batch can touch (its accounts, their open
invoices and credit, the payments it names, the parked payments it may place) into ``Books``,
feeds the batch's events in order, then writes back what changed, one statement per table.
Each method is one event's rule, built from the single-payment rules of ``matching``,
``ledger`` and ``suspense``; a later payment of an account sees what an earlier one did.

Besides the open amount, the books keep what is *settled* on each invoice (live cash plus
write-offs), which every allocation and reopened invoice announces (``invoice_settled_after``)
so a consumer can compute ``open = max(amount - settled, 0)`` whatever order it hears things in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from services.reconciliation.domain.ledger import apply_credit, reverse, shrink
from services.reconciliation.domain.matching import (
    invoice_keys,
    match_payment,
    normalize_reference,
    reference_keys,
    resolve_account,
)
from services.reconciliation.domain.model import (
    ZERO,
    Allocation,
    Application,
    CreditLot,
    IncomingPayment,
    InvoiceState,
    Reopened,
    Tolerance,
)
from services.reconciliation.domain.suspense import ParkedPayment, apply_parked, placements


class Rejected(ValueError):
    """The event contradicts the books (``field`` is its offending payload path); it fails alone."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")


@dataclass
class AccountRecord:
    account_id: str
    known: bool
    customer_id: str | None = None
    customer_name: str | None = None
    linked: bool = False
    """An invoice or customer link named it in this batch (written back)."""


@dataclass
class InvoiceRecord:
    invoice_id: str
    account_id: str
    currency: str
    amount: Decimal
    open_amount: Decimal
    issued_on: date
    due_on: date
    status: str
    policy_number: str | None = None
    natural_id: str | None = None
    new: bool = False
    changed: bool = False
    _state: InvoiceState | None = field(default=None, repr=False, compare=False)

    def state(self) -> InvoiceState:
        """The invoice as the matching rules see it (rebuilt only after it changed)."""
        if self._state is None:
            self._state = self._build()
        return self._state

    def _build(self) -> InvoiceState:
        return InvoiceState(
            self.invoice_id,
            self.account_id,
            self.currency,
            self.amount,
            self.open_amount,
            self.due_on,
            self.issued_on,
            self.policy_number,
            self.natural_id,
        )

    def set_open(self, open_after: Decimal) -> None:
        if self.status == "cancelled":
            return
        self.open_amount = open_after
        self.status = "open" if open_after > 0 else "paid"
        self.changed = True
        self._state = None

    def resize(self, amount: Decimal, open_amount: Decimal, due_on: date, status: str) -> None:
        self.amount, self.open_amount, self.due_on, self.status = amount, open_amount, due_on, status
        self.changed = True
        self._state = None


@dataclass
class PaymentRecord:
    payment_id: str
    claimed_account_id: str | None
    account_id: str | None
    currency: str
    amount: Decimal
    received_on: date
    status: str
    reference: str | None = None
    method: str = "other"
    method_detail: str | None = None
    payer_name: str | None = None
    rule: str | None = None
    suspense_reason: str | None = None
    reversed_on: date | None = None
    new: bool = False
    changed: bool = False
    indexed: bool = False
    """Its remittance keys are (or, when new, will be) in the suspense index."""

    def parked(self) -> ParkedPayment:
        return ParkedPayment(
            self.payment_id,
            self.currency,
            self.amount,
            self.received_on,
            self.reference,
            self.claimed_account_id,
        )


@dataclass
class AllocationRecord:
    """A live or reversed allocation row; ``row_id`` is None for one created in this batch."""

    row_id: int | None
    payment_id: str
    invoice_id: str
    account_id: str
    currency: str
    amount: Decimal
    written_off: Decimal
    rule: str
    applied_on: date
    reversed: bool = False
    changed: bool = False


@dataclass
class CreditRecord:
    payment_id: str
    account_id: str
    currency: str
    amount: Decimal
    received_on: date
    changed: bool = False


@dataclass(frozen=True)
class Applied:
    """``payment.applied``: the application, its date, the credit balance and each invoice's settled sum."""

    application: Application
    applied_on: date
    credit_balance_after: Decimal
    settled_after: tuple[Decimal, ...]


@dataclass(frozen=True)
class Parked:
    """``payment.unapplied``: the payment waits in suspense."""

    payment_id: str
    amount: Decimal
    currency: str
    reason: str
    received_on: date


@dataclass(frozen=True)
class ReversalDone:
    """``payment.reversal_applied``: invoices reopened (with what stays settled on each), credit removed."""

    payment_id: str
    account_id: str | None
    currency: str
    reopened: tuple[tuple[Reopened, Decimal], ...]
    credit_removed: Decimal
    credit_balance_after: Decimal
    reversed_on: date


Announcement = Applied | Parked | ReversalDone


@dataclass(frozen=True)
class NewInvoice:
    invoice_id: str
    account_id: str
    currency: str
    amount: Decimal
    issued_on: date
    due_on: date
    customer_id: str | None
    customer_name: str | None
    policy_number: str | None = None
    natural_id: str | None = None


@dataclass(frozen=True)
class NewPayment:
    payment_id: str
    account_id: str | None
    currency: str
    amount: Decimal
    received_on: date
    method: str
    method_detail: str | None = None
    reference: str | None = None
    payer_name: str | None = None


def new_invoice_keys(invoice: NewInvoice) -> set[str]:
    """The keys a suspense payment's remittance may name a new invoice by."""
    keys = {
        normalize_reference(invoice.invoice_id),
        normalize_reference(invoice.natural_id),
        normalize_reference(invoice.policy_number),
    }
    keys.discard("")
    return keys


@dataclass
class Books:
    """What the batch may touch, keyed as the tables are (the tenant is the caller's)."""

    accounts: dict[str, AccountRecord]
    invoices: dict[str, InvoiceRecord]
    payments: dict[str, PaymentRecord]
    credits: dict[str, CreditRecord]
    allocations: list[AllocationRecord]
    settled: dict[str, Decimal]
    tolerance_for: Callable[[str], Tolerance]
    key_length: int = 128
    received_dates: dict[str, date] = field(default_factory=dict)
    """When the payments behind the loaded allocations arrived (freed cash keeps its date as credit)."""
    new_accounts: set[str] = field(default_factory=set)
    """Accounts whose (not yet known) row this batch created."""

    def __post_init__(self) -> None:
        self._by_account: dict[str, dict[str, InvoiceRecord]] = {}
        self._by_key: dict[str, dict[str, InvoiceRecord]] = {}
        self._by_exact: dict[str, dict[str, InvoiceRecord]] = {}
        for invoice in self.invoices.values():
            self._index(invoice)
        self._lots: dict[tuple[str, str], dict[str, CreditRecord]] = {}
        for lot in self.credits.values():
            self._lots.setdefault((lot.account_id, lot.currency), {})[lot.payment_id] = lot
        self._allocs_of_payment: dict[str, list[AllocationRecord]] = {}
        self._allocs_of_invoice: dict[str, list[AllocationRecord]] = {}
        for a in self.allocations:
            self._index_allocation(a)
        self._parked_by_account: dict[str, set[str]] = {}
        self._parked_by_key: dict[str, set[str]] = {}
        for p in self.payments.values():
            if p.status == "suspense":
                self._index_parked(p)

    # -- indexes ------------------------------------------------------------------------------
    def _index(self, invoice: InvoiceRecord) -> None:
        self._by_account.setdefault(invoice.account_id, {})[invoice.invoice_id] = invoice
        for key in invoice_keys(invoice.state()):
            self._by_key.setdefault(key, {})[invoice.invoice_id] = invoice
        for exact in {invoice.invoice_id, invoice.natural_id}:
            if exact:
                self._by_exact.setdefault(exact, {})[invoice.invoice_id] = invoice

    def _index_allocation(self, a: AllocationRecord) -> None:
        self._allocs_of_payment.setdefault(a.payment_id, []).append(a)
        self._allocs_of_invoice.setdefault(a.invoice_id, []).append(a)

    def _searchable(self, reference: str | None) -> list[str]:
        return sorted(k for k in reference_keys(reference) if len(k) <= self.key_length)

    def _index_parked(self, p: PaymentRecord) -> None:
        if p.claimed_account_id is not None:
            self._parked_by_account.setdefault(p.claimed_account_id, set()).add(p.payment_id)
        elif p.indexed:
            for key in self._searchable(p.reference):
                self._parked_by_key.setdefault(key, set()).add(p.payment_id)

    def named_by(self, references: Iterable[str | None]) -> list[InvoiceState]:
        """Non-cancelled invoices a remittance names (exactly or by a normalised key), by id."""
        found: dict[str, InvoiceRecord] = {}
        for reference in references:
            exact = (reference or "").strip()
            if not exact:
                continue
            found.update(self._by_exact.get(exact, {}))
            for key in self._searchable(reference):
                found.update(self._by_key.get(key, {}))
        return [found[i].state() for i in sorted(found) if found[i].status != "cancelled"]

    def _account_invoices(self, account_id: str, currency: str | None = None) -> list[InvoiceState]:
        return [
            i.state()
            for i in self._by_account.get(account_id, {}).values()
            if i.status != "cancelled" and (currency is None or i.currency == currency)
        ]

    def credit_total(self, account_id: str, currency: str) -> Decimal:
        return sum((lot.amount for lot in self._lots.get((account_id, currency), {}).values()), ZERO)

    def _live(self, rows: Iterable[AllocationRecord]) -> list[AllocationRecord]:
        return [a for a in rows if not a.reversed]

    # -- writing into the books -----------------------------------------------------------------
    def _add_credit(self, payment_id: str, account_id: str, currency: str, amount: Decimal, on: date) -> None:
        if amount <= 0:
            return
        lot = self.credits.get(payment_id)
        if lot is None:
            lot = CreditRecord(payment_id, account_id, currency, ZERO, on)
            self.credits[payment_id] = lot
            self._lots.setdefault((account_id, currency), {})[payment_id] = lot
        lot.amount += amount
        lot.changed = True

    def _record(self, application: Application, applied_on: date) -> tuple[Decimal, ...]:
        """Allocation rows and open amounts for ``application``; what each invoice has settled after."""
        settled = []
        for a in application.allocations:
            row = AllocationRecord(
                None,
                a.payment_id,
                a.invoice_id,
                application.account_id,
                application.currency,
                a.amount,
                a.written_off,
                application.rule,
                applied_on,
            )
            self.allocations.append(row)
            self._index_allocation(row)
            self.invoices[a.invoice_id].set_open(a.open_after)
            self.settled[a.invoice_id] = self.settled.get(a.invoice_id, ZERO) + a.amount + a.written_off
            settled.append(self.settled[a.invoice_id])
        return tuple(settled)

    def _persist(self, application: Application, applied_on: date, received_on: date) -> tuple[Decimal, ...]:
        settled = self._record(application, applied_on)
        self._add_credit(
            application.payment_id,
            application.account_id,
            application.currency,
            application.credit_created,
            received_on,
        )
        return settled

    def _link(self, account_id: str, customer_id: str | None, customer_name: str | None) -> None:
        account = self.accounts.get(account_id)
        if account is None:
            account = AccountRecord(account_id, False)
            self.accounts[account_id] = account
            self.new_accounts.add(account_id)
        account.known = True
        account.customer_id = customer_id or account.customer_id
        account.customer_name = customer_name or account.customer_name
        account.linked = True

    def _use_credit(self, invoice: InvoiceState, applied_on: date) -> list[Announcement]:
        """Rule 5: the account's credit balance pays a newly issued (or grown) invoice."""
        lots = [
            CreditLot(lot.payment_id, lot.currency, lot.amount, lot.received_on)
            for lot in self._lots.get((invoice.account_id, invoice.currency), {}).values()
            if lot.amount > 0
        ]
        uses = apply_credit(invoice, lots)
        out: list[Announcement] = []
        for use in uses:  # oldest payment first: the balance as each lot is consumed in turn
            lot = self.credits[use.payment_id]
            lot.amount = use.lot_remaining
            lot.changed = True
            application = Application(
                payment_id=use.payment_id,
                account_id=invoice.account_id,
                currency=invoice.currency,
                rule="credit_balance",
                allocations=(Allocation(use.payment_id, invoice.invoice_id, use.amount, use.open_after),),
                credit_created=ZERO,
            )
            settled = self._record(application, applied_on)
            out.append(
                Applied(
                    application, applied_on, self.credit_total(invoice.account_id, invoice.currency), settled
                )
            )
        return out

    def _rematch(
        self, account_ids: Collection[str], keys: Collection[str], applied_from: dict[str, date]
    ) -> list[Announcement]:
        """Place the parked payments the now-known ``account_ids`` (or invoices named by ``keys``) identify."""
        candidates: set[str] = set()
        for account_id in account_ids:
            candidates |= self._parked_by_account.get(account_id, set())
        for key in keys:
            candidates |= self._parked_by_key.get(key, set())
        parked = [
            self.payments[pid].parked() for pid in candidates if self.payments[pid].status == "suspense"
        ]
        if not parked:
            return []
        references = [p.reference for p in parked if p.claimed_account_id is None and p.reference]
        placed = placements(parked, self.named_by(references), set(account_ids))
        if not placed:
            return []
        touched = sorted({account_id for _, account_id in placed})
        books = [i for account_id in touched for i in self._account_invoices(account_id)]
        applications = apply_parked(placed, books, self.tolerance_for)
        out: list[Announcement] = []
        for application, (parked_payment, account_id) in zip(applications, placed, strict=True):
            applied_on = max(parked_payment.received_on, applied_from[account_id])
            settled = self._persist(application, applied_on, parked_payment.received_on)
            payment = self.payments[application.payment_id]
            payment.account_id, payment.status, payment.rule = account_id, "applied", application.rule
            payment.changed = True
            self._unpark(payment)
            out.append(
                Applied(
                    application,
                    applied_on,
                    self.credit_total(application.account_id, application.currency),
                    settled,
                )
            )
        return out

    def _unpark(self, payment: PaymentRecord) -> None:
        if payment.claimed_account_id is not None:
            self._parked_by_account.get(payment.claimed_account_id, set()).discard(payment.payment_id)
        for key in self._searchable(payment.reference):
            self._parked_by_key.get(key, set()).discard(payment.payment_id)

    # -- one event each ---------------------------------------------------------------------------
    def issue(self, inv: NewInvoice) -> list[Announcement]:
        """An invoice names its account (known from now on), uses its credit, places what waited for it."""
        self._link(inv.account_id, inv.customer_id, inv.customer_name)
        if inv.invoice_id in self.invoices:
            return []  # the same invoice issued twice: the first one stands
        record = InvoiceRecord(
            inv.invoice_id,
            inv.account_id,
            inv.currency,
            inv.amount,
            inv.amount,
            inv.issued_on,
            inv.due_on,
            "open",
            inv.policy_number,
            inv.natural_id,
            new=True,
        )
        self.invoices[inv.invoice_id] = record
        self._index(record)
        out = self._use_credit(record.state(), inv.issued_on)
        out += self._rematch([inv.account_id], new_invoice_keys(inv), {inv.account_id: inv.issued_on})
        return out

    def link_customer(
        self, account_ids: Sequence[str], customer_id: str, customer_name: str | None, today: date
    ) -> list[Announcement]:
        """A customer names its accounts: they are known, and payments parked for them are placed."""
        if not account_ids:
            return []
        accounts = sorted(set(account_ids))
        for account_id in accounts:
            self._link(account_id, customer_id, customer_name)
        return self._rematch(accounts, (), dict.fromkeys(accounts, today))

    def receive(self, p: NewPayment) -> list[Announcement]:
        """Match a payment on its account, or by the invoice its remittance names; else park it."""
        if p.payment_id in self.payments:
            return []  # redelivered with a new event id: the payment is already reconciled
        record = PaymentRecord(
            p.payment_id,
            p.account_id,
            None,
            p.currency,
            p.amount,
            p.received_on,
            "suspense",
            p.reference,
            p.method,
            p.method_detail,
            p.payer_name,
            new=True,
        )
        self.payments[p.payment_id] = record
        account_id: str | None
        if p.account_id is not None:
            account = self.accounts.get(p.account_id)
            if account is None:
                self.accounts[p.account_id] = AccountRecord(p.account_id, False)
                self.new_accounts.add(p.account_id)
            elif account.known:
                return self._apply(record, p.account_id)
            return self._park(record, "unidentified_account")
        account_id, _, ambiguous = resolve_account(p.reference, p.currency, self.named_by([p.reference]))
        if account_id is None:
            record.indexed = bool(self._searchable(p.reference))
            return self._park(record, "ambiguous_reference" if ambiguous else "unidentified_account")
        return self._apply(record, account_id)

    def _apply(self, record: PaymentRecord, account_id: str) -> list[Announcement]:
        incoming = IncomingPayment(
            record.payment_id,
            account_id,
            record.currency,
            record.amount,
            record.received_on,
            record.reference,
        )
        application = match_payment(
            incoming, self._account_invoices(account_id, record.currency), self.tolerance_for(record.currency)
        )
        settled = self._persist(application, record.received_on, record.received_on)
        record.account_id, record.status, record.rule = account_id, "applied", application.rule
        balance = self.credit_total(account_id, record.currency)
        return [Applied(application, record.received_on, balance, settled)]

    def _park(self, record: PaymentRecord, reason: str) -> list[Announcement]:
        record.suspense_reason = reason
        self._index_parked(record)
        return [Parked(record.payment_id, record.amount, record.currency, reason, record.received_on)]

    def resize(
        self,
        invoice_id: str,
        account_id: str,
        currency: str | None,
        new_amount: Decimal,
        effective_on: date,
        *,
        cancel: bool,
        new_due_on: date | None = None,
    ) -> list[Announcement]:
        """An invoice's amount changed: free cash that now exceeds it as credit, then use credit if it grew."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise Rejected("data.invoice_id", f"unknown invoice {invoice_id!r} (issue it first)")
        if invoice.account_id != account_id:
            raise Rejected("data.account_id", f"invoice {invoice_id!r} belongs to another account")
        if currency is not None and invoice.currency != currency:
            raise Rejected(
                "data.currency", f"invoice {invoice_id!r} is in {invoice.currency}, not {currency}"
            )
        if invoice.status == "cancelled":
            return []
        rows = self._live(self._allocs_of_invoice.get(invoice_id, []))
        allocs = [Allocation(a.payment_id, a.invoice_id, a.amount, ZERO, a.written_off) for a in rows]
        open_after, freed = shrink(invoice.state(), new_amount, allocs)
        if freed:
            self._release(invoice_id, rows, freed)
        invoice.resize(
            new_amount,
            ZERO if cancel else open_after,
            new_due_on or invoice.due_on,
            "cancelled" if cancel else ("open" if open_after > 0 else "paid"),
        )
        out: list[Announcement] = []
        if freed:
            settled = self.settled.get(invoice_id, ZERO)
            settled_after: list[Decimal] = []
            for payment_id, amount in freed:
                known = self.payments.get(payment_id)
                received_on = known.received_on if known is not None else self.received_dates[payment_id]
                self._add_credit(payment_id, account_id, invoice.currency, amount, received_on)
                settled -= amount
                settled_after.append(settled)
            balance = self.credit_total(account_id, invoice.currency)
            for index, (payment_id, amount) in enumerate(freed):
                application = Application(
                    payment_id=payment_id,
                    account_id=account_id,
                    currency=invoice.currency,
                    rule="credit_balance",
                    allocations=(Allocation(payment_id, invoice_id, ZERO, ZERO if cancel else open_after),),
                    credit_created=amount,
                )
                # the balance and the invoice's settled sum as each payment's cash was freed in turn
                later = sum((a for _, a in freed[index + 1 :]), ZERO)
                out.append(Applied(application, effective_on, balance - later, (settled_after[index],)))
            self.settled[invoice_id] = settled
        if not cancel and open_after > 0:
            out += self._use_credit(invoice.state(), effective_on)
        return out

    def _release(
        self, invoice_id: str, rows: list[AllocationRecord], freed: Sequence[tuple[str, Decimal]]
    ) -> None:
        """Take cash back from an invoice that shrank (newest rows of each payment first); write-offs go."""
        wanted = dict(freed)
        for row in reversed(rows):
            remaining = wanted.get(row.payment_id, ZERO)
            if remaining <= 0:
                continue
            take = min(row.amount, remaining)
            wanted[row.payment_id] = remaining - take
            row.amount -= take
            row.changed = True
        written_off = ZERO
        for row in rows:
            if row.written_off:
                written_off += row.written_off
                row.written_off = ZERO
                row.changed = True
        # write-offs were never money: they go first, then the freed cash (the caller subtracts it)
        self.settled[invoice_id] = self.settled.get(invoice_id, ZERO) - written_off

    def reverse(self, payment_id: str, reversed_on: date) -> list[Announcement]:
        """Undo a payment: reopen what it paid (through its credit too) and remove its credit."""
        payment = self.payments.get(payment_id)
        if payment is None:
            raise Rejected("data.payment_id", f"unknown payment {payment_id!r} (nothing to reverse)")
        if payment.status == "reversed":
            return []
        reopened: tuple[tuple[Reopened, Decimal], ...] = ()
        credit_removed = ZERO
        if payment.status == "applied" and payment.account_id is not None:
            rows = self._live(self._allocs_of_payment.get(payment_id, []))
            allocs = [Allocation(a.payment_id, a.invoice_id, a.amount, ZERO, a.written_off) for a in rows]
            states = self._account_invoices(payment.account_id, payment.currency)
            lot = self.credits.get(payment_id)
            lots = [CreditLot(lot.payment_id, lot.currency, lot.amount, lot.received_on)] if lot else []
            reversal = reverse(payment_id, allocs, states, [x for x in lots if x.amount > 0])
            for row in rows:
                row.reversed = True
                row.changed = True
                self.settled[row.invoice_id] = (
                    self.settled.get(row.invoice_id, ZERO) - row.amount - row.written_off
                )
            if lot is not None:
                lot.amount = ZERO
                lot.changed = True
            for item in reversal.reopened:
                reopening = self.invoices.get(item.invoice_id)
                if item.amount > 0 and reopening is not None:
                    reopening.set_open(item.open_after)
            reopened = tuple(
                (item, self.settled.get(item.invoice_id, ZERO))
                for item in reversal.reopened
                if item.amount > 0
            )
            credit_removed = reversal.credit_removed
        else:
            self._unpark(payment)
            payment.indexed = False
        payment.status, payment.reversed_on = "reversed", reversed_on
        payment.changed = True
        balance = self.credit_total(payment.account_id, payment.currency) if payment.account_id else ZERO
        return [
            ReversalDone(
                payment_id,
                payment.account_id,
                payment.currency,
                reopened,
                credit_removed,
                balance,
                reversed_on,
            )
        ]
